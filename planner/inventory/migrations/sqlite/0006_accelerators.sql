-- Accelerators (GPUs, FPGAs…) a node's inspection found, as JSON [{kind, model, manufacturer, count}]:
-- flavors ask for GPUs by count and model.
ALTER TABLE nodes ADD COLUMN accelerators TEXT NOT NULL DEFAULT '[]';
