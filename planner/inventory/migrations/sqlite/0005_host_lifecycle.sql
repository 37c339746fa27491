-- The host lifecycle: what a host holding a node puts over the node's own configuration (the
-- provisioning or cleaning network, the host's networks, the host's profile), and what a host's
-- deployment was made from (image, checksum, wait strategy, generation, the node's baseline profile;
-- a digest of the user data, never the user data).
ALTER TABLE nodes ADD COLUMN host_override TEXT;
ALTER TABLE hosts ADD COLUMN deployment TEXT;
