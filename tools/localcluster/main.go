// Command localcluster runs a real Kubernetes control plane (an embedded etcd
// and kube-apiserver) in one process on the loopback interface, the way
// controller-runtime's envtest does, for tests and the local dev loop.
//
// It generates its own certificates and service-account keys, writes an admin
// kubeconfig, prints one JSON line on stdout once /readyz answers ok, and shuts
// down on SIGTERM/SIGINT, removing its temporary state directory.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

type readyLine struct {
	Ready      bool   `json:"ready"`
	Name       string `json:"name"`
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	Dir        string `json:"dir"`
	Pid        int    `json:"pid"`
	StartupMs  int64  `json:"startupMs"`
}

func main() {
	os.Exit(run())
}

func run() int {
	started := time.Now()
	fs := flag.NewFlagSet("localcluster", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory (certificates, etcd data, kubeconfig); default: a new temporary directory removed on exit")
	port := fs.Int("port", 0, "kube-apiserver secure port on 127.0.0.1; 0 picks a free port")
	name := fs.String("name", "local", "cluster name used in the kubeconfig")
	keep := fs.Bool("keep", false, "keep the temporary state directory on exit")
	exitWithStdin := fs.Bool("exit-with-stdin", false, "shut down when stdin closes (the parent died)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: localcluster [flags] [-- extra kube-apiserver flags]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	extraArgs := fs.Args()

	stateDir := *dir
	removeOnExit := false
	if stateDir == "" {
		tmp, err := os.MkdirTemp("", "localcluster-"+*name+"-")
		if err != nil {
			return fail("create temporary state directory: %v", err)
		}
		stateDir = tmp
		removeOnExit = !*keep
	}
	stateDir, _ = filepath.Abs(stateDir)
	if removeOnExit {
		defer os.RemoveAll(stateDir)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fail("create state directory %s: %v", stateDir, err)
	}

	// Lets the test fixture sweep directories of control planes that were killed
	// before they could remove them (SIGKILL cannot be handled).
	pidFile := filepath.Join(stateDir, "localcluster.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fail("write pid file: %v", err)
	}
	defer os.Remove(pidFile)

	pkiDir := filepath.Join(stateDir, "pki")
	pki, err := ensurePKI(pkiDir)
	if err != nil {
		return fail("prepare certificates in %s: %v", pkiDir, err)
	}

	apiPort := *port
	if apiPort == 0 {
		if apiPort, err = freePort(); err != nil {
			return fail("find a free port for kube-apiserver: %v", err)
		}
	}
	server := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	kubeconfigPath := filepath.Join(stateDir, "kubeconfig")
	if err := writeAdminKubeconfig(kubeconfigPath, *name, server, pki); err != nil {
		return fail("write kubeconfig: %v", err)
	}

	etcdServer, etcdURL, err := startEtcd(filepath.Join(stateDir, "etcd"), *name)
	if err != nil {
		return fail("start etcd: %v", err)
	}
	stopEtcd := sync.OnceFunc(etcdServer.Close)
	defer stopEtcd()

	// NewAPIServerCommand installs the SIGTERM/SIGINT handler; its context is
	// cancelled on the first signal and the server drains and returns.
	cmd := app.NewAPIServerCommand()
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The lease reconciler refuses a loopback advertise address; nothing
		// in-cluster needs the kubernetes Service endpoints here.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + pkiDir,
		"--tls-cert-file=" + pki.servingCertFile,
		"--tls-private-key-file=" + pki.servingKeyFile,
		"--client-ca-file=" + pki.caCertFile,
		"--service-account-key-file=" + pki.saPublicKeyFile,
		"--service-account-signing-key-file=" + pki.saPrivateKeyFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--profiling=false",
	}
	cmd.SetArgs(append(args, extraArgs...))
	ctx := cmd.Context()

	if *exitWithStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}()
	}

	go func() {
		if err := waitReady(ctx, server, pki); err != nil {
			return
		}
		line, _ := json.Marshal(readyLine{
			Ready: true, Name: *name, Server: server, Kubeconfig: kubeconfigPath,
			Dir: stateDir, Pid: os.Getpid(), StartupMs: time.Since(started).Milliseconds(),
		})
		fmt.Fprintln(os.Stdout, string(line))
	}()

	code := cli.Run(cmd)

	// Do not hang forever on a stuck etcd shutdown: the caller is waiting.
	done := make(chan struct{})
	go func() { stopEtcd(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "localcluster: etcd did not stop within 10s")
	}
	if removeOnExit {
		_ = os.RemoveAll(stateDir)
	}
	return code
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "localcluster: "+format+"\n", args...)
	return 1
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before we bind; callers retry a start that fails that way.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd(dataDir, name string) (*embed.Etcd, string, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	clientURL, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(clientPort))
	peerURL, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(peerPort))

	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(name)
	cfg.LogLevel = "error"
	// Throw-away local state: durability is not worth the fsync latency.
	cfg.UnsafeNoFsync = true
	if _, err := os.Stat(filepath.Join(dataDir, "member")); err == nil {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, clientURL.String(), nil
	case err := <-e.Err():
		e.Close()
		return nil, "", err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", errors.New("etcd was not ready within 60s")
	}
}

func waitReady(ctx context.Context, server string, pki *pkiFiles) error {
	pool := x509.NewCertPool()
	pool.AddCert(pki.caCert)
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      pool,
			Certificates: []tls.Certificate{pki.adminPair},
		}},
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
