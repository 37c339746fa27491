-- What the deploy agent read from inside a node (disks, NICs with their LLDP neighbours, CPU,
-- memory), as JSON, with when: `bmplan nodes inspect --in-band` and every agent boot record it.
ALTER TABLE nodes ADD COLUMN inband TEXT;
ALTER TABLE nodes ADD COLUMN inband_at BIGINT;
