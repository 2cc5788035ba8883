-- 0041_intake_cursors: public-inbox sources keep their per-epoch commit in
-- the common source cursor (0010's source_cursors, see core/inbox_read.h),
-- so 0040's separate table is not needed.
DROP TABLE inbox_cursors;
