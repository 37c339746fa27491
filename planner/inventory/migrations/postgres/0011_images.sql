-- Golden images: an operating system image known by name (baremetal_image). The spec holds its
-- source URL (masked; sealed when it carries credentials), checksum, format, size, OS family and
-- origin (uploaded, or captured from a host). Hosts name an image in their deployment; an image a
-- host still uses is not deleted.
CREATE TABLE images (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
