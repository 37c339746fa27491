-- IPAM: the static addresses the inventory gave hosts, one per host and subnet of each network it
-- is on. The key makes an address one host's (networks' subnets may not overlap, so an address is
-- unique across all of them); the unique pair keeps a host's address on a subnet across rebuilds.
-- Released when the host is deleted.
CREATE TABLE addresses (
    address     TEXT PRIMARY KEY,
    network     TEXT NOT NULL,
    subnet      TEXT NOT NULL,
    project     TEXT NOT NULL,
    host        TEXT NOT NULL,
    pinned      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (project, host, network, subnet)
);
CREATE INDEX addresses_by_subnet ON addresses (network, subnet);
