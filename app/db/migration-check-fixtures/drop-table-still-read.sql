-- Up Migration
DROP TABLE carrier_invites;
