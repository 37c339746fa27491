-- How the deploy agent reaches a node (virtual media or PXE) and the MAC it network-boots from,
-- as JSON ({"interface": "pxe", "pxe_mac": "52:54:00:…"}); NULL takes the defaults.
ALTER TABLE nodes ADD COLUMN boot TEXT;
