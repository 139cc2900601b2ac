-- Up Migration
-- What an agent task produced, for whoever queued it: the LLM-backed kinds' drafts and explanations
-- (app/runner/assistant-tasks.ts), with the source that produced them (the model or a fallback).
-- Nullable without a default: adding it rewrites nothing and takes its lock only for an instant.
ALTER TABLE agent_tasks ADD COLUMN result jsonb;
GRANT UPDATE (result) ON agent_tasks TO freight_runner;

-- Down Migration
REVOKE UPDATE (result) ON agent_tasks FROM freight_runner;
ALTER TABLE agent_tasks DROP COLUMN result;
