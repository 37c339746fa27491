-- The host lifecycle: where a node's ports are while a host is deployed, cleaned or running on
-- networks of its own (overriding the networks its configuration names), and what a host's
-- deployment was made from (image, checksum, wait strategy, generation, the node's baseline profile;
-- a digest of the user data, never the user data).
ALTER TABLE nodes ADD COLUMN networks_override TEXT;
ALTER TABLE hosts ADD COLUMN deployment TEXT;
