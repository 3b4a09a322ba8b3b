/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every SQL statement of the spool, as named constants (CONVENTIONS.md:
 * all SQL text sits here). Two kinds:
 *
 *  - SA_SQL_* macros: DDL and open-time statements run once by migrate.c;
 *  - SA_SQL_STATEMENTS: the statements spool.c prepares once per handle
 *    and keeps (the ingest path must not re-prepare per commit). The
 *    X-macro gives each its enum name and text from one list, so the two
 *    cannot drift apart.
 *
 * Only store/ includes this file.
 */
#ifndef SA_STORE_SQL_H
#define SA_STORE_SQL_H

/* --- open and format detection (migrate.c) ------------------------------ */

#define SA_SQL_USER_VERSION "PRAGMA user_version"
#define SA_SQL_COUNT_OBJECTS "SELECT count(*) FROM sqlite_master"
#define SA_SQL_HAS_META                                                     \
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
#define SA_SQL_META_ORIGIN "SELECT value FROM meta WHERE key = 'origin_id'"
#define SA_SQL_AUTO_VACUUM_GET "PRAGMA auto_vacuum"
#define SA_SQL_AUTO_VACUUM_INCREMENTAL "PRAGMA auto_vacuum = INCREMENTAL"
#define SA_SQL_JOURNAL_WAL "PRAGMA journal_mode = WAL"
#define SA_SQL_SYNC_NORMAL "PRAGMA synchronous = NORMAL"
#define SA_SQL_SYNC_FULL "PRAGMA synchronous = FULL"
/* Keep the WAL from staying large after a burst once it is reset. */
#define SA_SQL_JOURNAL_SIZE_LIMIT "PRAGMA journal_size_limit = 67108864"
/* Debian builds SQLite with SQLITE_SECURE_DELETE: every freed page of a
 * trimmed segment would be zeroed through the WAL, so a trim needs as much
 * free disk as it frees, and cannot run on a full disk. FAST zeroes only
 * where that costs no extra I/O (b-tree pages, not overflow pages). */
#define SA_SQL_SECURE_DELETE_FAST "PRAGMA secure_delete = FAST"
/* A spool connection appends or reads forward (segments are read once,
 * in id order): a small page cache does. The agent has four or five
 * connections; SQLite's default of 2 MiB each would be most of its heap,
 * and 512 KiB each still put CSV -> Kafka above 24 MB of RSS. */
#define SA_SQL_CACHE_SIZE "PRAGMA cache_size = -128"
#define SA_SQL_PAGE_SIZE "PRAGMA page_size"
/* Rebuilds the file from the pages in use (housekeeping.c). */
#define SA_SQL_VACUUM "VACUUM"
#define SA_SQL_TXN_BEGIN_IMMEDIATE "BEGIN IMMEDIATE"
#define SA_SQL_TXN_COMMIT "COMMIT"
#define SA_SQL_TXN_ROLLBACK "ROLLBACK"

/* --- format 3: the current schema (DESIGN.md §3) ------------------------ */

/* segments.id is AUTOINCREMENT: ids are never reused, even after a trim
 * empties the table, because sink cursors refer to them. bytes is the
 * length of the uncompressed frames (data is that, deflated when codec
 * is 1). */
#define SA_SQL_CREATE_SEGMENTS_V2                                           \
    "CREATE TABLE segments(id INTEGER PRIMARY KEY AUTOINCREMENT,"           \
    " stream TEXT NOT NULL, schema_id INTEGER NOT NULL,"                    \
    " first_seq INTEGER NOT NULL, count INTEGER NOT NULL,"                  \
    " bytes INTEGER NOT NULL, created_ms INTEGER NOT NULL,"                 \
    " min_event_ms INTEGER NOT NULL, max_event_ms INTEGER NOT NULL,"        \
    " codec INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL);"               \
    "CREATE INDEX segments_stream ON segments(stream, id);"

#define SA_SQL_CREATE_AUDIT_V2                                              \
    "CREATE TABLE audit(id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"    \
    " kind TEXT NOT NULL, detail TEXT);"                                    \
    "CREATE INDEX audit_kind ON audit(kind);"

/* A dead letter is open until a replay (or a person: `deadletter resolve`)
 * resolves it (resolved_ms, and resolved_how: what was replayed, from
 * where). raw holds the input whole; a row too long to keep is kept by
 * reference instead: raw_file, raw_offset and raw_length say where its
 * bytes are (NULL when raw holds the row whole). A CSV row's dead letter
 * keeps what a replay needs to name its fields: header, the header line of
 * its file, and file_key, that file's identity ("dev:ino:len:hash", as the
 * CSV source's source_offsets), so that a file that replaced it under the
 * same name is noticed. reason is the original rejection, never
 * overwritten; last_replay_error is why the last replay of it failed. */
#define SA_SQL_DEADLETTER_COLUMNS_V3                                        \
    " state TEXT NOT NULL DEFAULT 'open', resolved_ms INTEGER,"             \
    " resolved_how TEXT, raw_file TEXT, raw_offset INTEGER,"                \
    " raw_length INTEGER, header TEXT, file_key TEXT,"                      \
    " last_replay_error TEXT"
#define SA_SQL_CREATE_DEADLETTERS_V3                                        \
    "CREATE TABLE deadletters(id INTEGER PRIMARY KEY,"                      \
    " created_ms INTEGER NOT NULL, stream TEXT, source TEXT,"               \
    " location TEXT, reason TEXT NOT NULL, raw BLOB,"                       \
    SA_SQL_DEADLETTER_COLUMNS_V3 ");"

/* Daily roll-ups (format 5), one row per UTC day, scope and counter:
 * streams: kind 'ingested' (reason ''), 'rejected' (reason: its class,
 * "quality:<rule>" for a quality rule), 'dropped' and 'tagged' (reason:
 * the quality rule); sinks: kind 'acked', 'superseded', 'deadlettered'.
 * Added to by the transactions that already commit (sa_spool_commit,
 * the sink cursor's save), never per record. */
#define SA_SQL_CREATE_ROLLUPS_V5                                            \
    "CREATE TABLE rollup_streams(day TEXT NOT NULL, stream TEXT NOT NULL,"  \
    " kind TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL,"        \
    " PRIMARY KEY(day, stream, kind, reason)) WITHOUT ROWID;"               \
    "CREATE TABLE rollup_sinks(day TEXT NOT NULL, sink TEXT NOT NULL,"      \
    " kind TEXT NOT NULL, n INTEGER NOT NULL,"                              \
    " PRIMARY KEY(day, sink, kind)) WITHOUT ROWID;"

#define SA_SQL_CREATE_V5                                                    \
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"                  \
    "CREATE TABLE schemas(id INTEGER PRIMARY KEY, subject TEXT NOT NULL,"   \
    " version INTEGER NOT NULL, fingerprint INTEGER NOT NULL,"              \
    " definition TEXT NOT NULL, UNIQUE(subject, version));"                 \
    SA_SQL_CREATE_SEGMENTS_V2                                               \
    "CREATE TABLE sink_cursors(sink TEXT PRIMARY KEY,"                      \
    " segment_id INTEGER NOT NULL, record_index INTEGER NOT NULL,"          \
    " updated_ms INTEGER NOT NULL,"                                         \
    " superseded INTEGER NOT NULL DEFAULT 0);"                              \
    "CREATE TABLE source_offsets(source TEXT NOT NULL,"                     \
    " file_key TEXT NOT NULL, \"offset\" INTEGER NOT NULL,"                 \
    " line INTEGER NOT NULL, done INTEGER NOT NULL,"                        \
    " updated_ms INTEGER NOT NULL, PRIMARY KEY(source, file_key));"         \
    SA_SQL_CREATE_DEADLETTERS_V3                                            \
    SA_SQL_CREATE_AUDIT_V2                                                  \
    SA_SQL_CREATE_ROLLUPS_V5                                                \
    "PRAGMA user_version = 5;"

/* Bound: ?1 origin_id, ?2 created_ms. */
#define SA_SQL_INIT_META                                                    \
    "INSERT INTO meta(key, value) VALUES ('origin_id', ?1),"                \
    " ('next_seq', 1), ('format', 5), ('created_ms', ?2)"

/* --- migration 1 -> 2 ---------------------------------------------------
 * Format 1 had segments without the codec column and with a plain
 * INTEGER PRIMARY KEY, whose ids SQLite reuses once the table is empty:
 * a sink cursor could then skip new segments. No audit table. The step
 * rebuilds segments with AUTOINCREMENT (every v1 segment is codec 0), sets
 * the id sequence past every id a cursor may hold, and adds audit. */
#define SA_SQL_MIGRATE_1_2                                                  \
    "CREATE TABLE segments_v2(id INTEGER PRIMARY KEY AUTOINCREMENT,"        \
    " stream TEXT NOT NULL, schema_id INTEGER NOT NULL,"                    \
    " first_seq INTEGER NOT NULL, count INTEGER NOT NULL,"                  \
    " bytes INTEGER NOT NULL, created_ms INTEGER NOT NULL,"                 \
    " min_event_ms INTEGER NOT NULL, max_event_ms INTEGER NOT NULL,"        \
    " codec INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL);"               \
    "INSERT INTO segments_v2(id, stream, schema_id, first_seq, count,"      \
    " bytes, created_ms, min_event_ms, max_event_ms, codec, data)"          \
    " SELECT id, stream, schema_id, first_seq, count, bytes, created_ms,"   \
    " min_event_ms, max_event_ms, 0, data FROM segments ORDER BY id;"      \
    "DROP TABLE segments;"                                                  \
    "ALTER TABLE segments_v2 RENAME TO segments;"                           \
    "CREATE INDEX segments_stream ON segments(stream, id);"                 \
    "DELETE FROM sqlite_sequence WHERE name = 'segments';"                  \
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'segments',"             \
    " max(coalesce((SELECT max(id) FROM segments), 0),"                     \
    " coalesce((SELECT max(segment_id) FROM sink_cursors), 0));"           \
    SA_SQL_CREATE_AUDIT_V2                                                  \
    "INSERT INTO meta(key, value) VALUES ('format', 2)"                     \
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value;"              \
    "PRAGMA user_version = 2;"

/* --- migration 2 -> 3 ---------------------------------------------------
 * Dead letters get a state (every existing one is open), the columns
 * of a raw row kept by reference, and those a replay reads (header,
 * file_key: NULL for the old ones; last_replay_error). */
#define SA_SQL_MIGRATE_2_3                                                  \
    "ALTER TABLE deadletters ADD COLUMN state TEXT NOT NULL DEFAULT 'open';" \
    "ALTER TABLE deadletters ADD COLUMN resolved_ms INTEGER;"               \
    "ALTER TABLE deadletters ADD COLUMN resolved_how TEXT;"                 \
    "ALTER TABLE deadletters ADD COLUMN raw_file TEXT;"                     \
    "ALTER TABLE deadletters ADD COLUMN raw_offset INTEGER;"                \
    "ALTER TABLE deadletters ADD COLUMN raw_length INTEGER;"                \
    "ALTER TABLE deadletters ADD COLUMN header TEXT;"                       \
    "ALTER TABLE deadletters ADD COLUMN file_key TEXT;"                     \
    "ALTER TABLE deadletters ADD COLUMN last_replay_error TEXT;"            \
    "INSERT INTO meta(key, value) VALUES ('format', 3)"                     \
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value;"              \
    "PRAGMA user_version = 3;"

/* --- migration 3 -> 4 ---------------------------------------------------
 * Frames may carry a version (segment.h: the op byte's SA_FRAME_VERSIONED
 * bit, then the version). Frames of format 3 lack the bit and read as
 * before, so no segment changes, and an older syncagent, which would call
 * a versioned frame corrupt, no longer opens the file. Sink cursors count
 * the records their sink acknowledged as superseded (coalesce). */
#define SA_SQL_MIGRATE_3_4                                                  \
    "ALTER TABLE sink_cursors ADD COLUMN"                                   \
    " superseded INTEGER NOT NULL DEFAULT 0;"                               \
    "INSERT INTO meta(key, value) VALUES ('format', 4)"                     \
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value;"              \
    "PRAGMA user_version = 4;"

/* --- migration 4 -> 5 ---------------------------------------------------
 * The daily roll-ups (report), and frames may carry quality tags
 * (segment.h: SA_FRAME_TAGGED). Format 4 frames lack the bit and read as
 * before, so no segment changes; an older syncagent, which would call a
 * tagged frame corrupt, no longer opens the file. */
#define SA_SQL_MIGRATE_4_5                                                  \
    SA_SQL_CREATE_ROLLUPS_V5                                                \
    "INSERT INTO meta(key, value) VALUES ('format', 5)"                     \
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value;"              \
    "PRAGMA user_version = 5;"

/* Audit of a migration step: ?1 ts_ms, ?2 detail. */
#define SA_SQL_AUDIT_MIGRATE                                                \
    "INSERT INTO audit(ts_ms, kind, detail) VALUES (?1, 'migrate', ?2)"

/* --- statements cached per handle (spool.c) ----------------------------- */

#define SA_SQL_SEGMENT_COLUMNS                                              \
    "SELECT id, stream, schema_id, first_seq, count, bytes, created_ms,"    \
    " min_event_ms, max_event_ms, codec, data FROM segments"

/* Segments after cursor (?1 segment_id, ?2 record_index): the cursor's own
 * segment when records are left in it, then every higher id. Written as a
 * rowid range plus a filter so that SQLite seeks instead of scanning. */
#define SA_SQL_AFTER_CURSOR " WHERE id >= ?1 AND (id > ?1 OR count > ?2)"
/* ?3: one stream, or a JSON array of streams. */
#define SA_SQL_ONE_STREAM " AND stream = ?3"
#define SA_SQL_STREAM_SET " AND stream IN (SELECT value FROM json_each(?3))"

#define SA_SQL_LAG_HEAD                                                     \
    "SELECT coalesce(sum(CASE WHEN id = ?1 THEN count - ?2 ELSE count END),"\
    " 0), coalesce(min(created_ms), 0) FROM segments"

#define SA_SQL_STATEMENTS(XX)                                               \
    XX(BEGIN_IMMEDIATE, SA_SQL_TXN_BEGIN_IMMEDIATE)                         \
    XX(BEGIN_READ, "BEGIN")                                                 \
    XX(COMMIT, SA_SQL_TXN_COMMIT)                                           \
    XX(ROLLBACK, SA_SQL_TXN_ROLLBACK)                                       \
    XX(META_GET, "SELECT value FROM meta WHERE key = ?1")                   \
    XX(META_PUT, "INSERT INTO meta(key, value) VALUES (?1, ?2)"             \
       " ON CONFLICT(key) DO UPDATE SET value = excluded.value")            \
    XX(META_DELETE, "DELETE FROM meta WHERE key = ?1")                      \
    XX(PAGE_COUNT, "PRAGMA page_count")                                     \
    XX(SEGMENT_ID_LAST, "SELECT seq FROM sqlite_sequence"                   \
       " WHERE name = 'segments'")                                          \
    XX(FREELIST_COUNT, "PRAGMA freelist_count")                             \
    XX(SEGMENT_INSERT, "INSERT INTO segments(stream, schema_id, first_seq," \
       " count, bytes, created_ms, min_event_ms, max_event_ms, codec, data)" \
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                 \
    XX(SEGMENT_OLDEST, "SELECT id, count, first_seq FROM segments"          \
       " ORDER BY id LIMIT 1")                                              \
    XX(SEGMENT_DELETE, "DELETE FROM segments WHERE id = ?1")                \
    XX(SEGMENT_STREAMS, "SELECT DISTINCT stream FROM segments")             \
    /* ?1 stream; delete what a cursor (?2, ?3) has passed */               \
    XX(SEGMENT_TRIM, "DELETE FROM segments WHERE stream = ?1 AND id <= ?2"  \
       " AND (id < ?2 OR count <= ?3)")                                     \
    XX(SEGMENT_READ_ALL, SA_SQL_SEGMENT_COLUMNS SA_SQL_AFTER_CURSOR         \
       " ORDER BY id LIMIT 1")                                              \
    XX(SEGMENT_READ_ONE, SA_SQL_SEGMENT_COLUMNS SA_SQL_AFTER_CURSOR         \
       SA_SQL_ONE_STREAM " ORDER BY id LIMIT 1")                            \
    XX(SEGMENT_READ_SET, SA_SQL_SEGMENT_COLUMNS SA_SQL_AFTER_CURSOR         \
       SA_SQL_STREAM_SET " ORDER BY id LIMIT 1")                            \
    XX(SEGMENT_ALL, SA_SQL_SEGMENT_COLUMNS " ORDER BY id")                  \
    XX(SEGMENT_SEQUENCE, "SELECT seq FROM sqlite_sequence"                  \
       " WHERE name = 'segments'")                                          \
    XX(LAG_ALL, SA_SQL_LAG_HEAD SA_SQL_AFTER_CURSOR)                        \
    XX(LAG_ONE, SA_SQL_LAG_HEAD SA_SQL_AFTER_CURSOR SA_SQL_ONE_STREAM)      \
    XX(LAG_SET, SA_SQL_LAG_HEAD SA_SQL_AFTER_CURSOR SA_SQL_STREAM_SET)      \
    XX(PENDING_ALL, "SELECT 1 FROM segments" SA_SQL_AFTER_CURSOR " LIMIT 1") \
    XX(PENDING_ONE, "SELECT 1 FROM segments" SA_SQL_AFTER_CURSOR            \
       SA_SQL_ONE_STREAM " LIMIT 1")                                        \
    XX(PENDING_SET, "SELECT 1 FROM segments" SA_SQL_AFTER_CURSOR            \
       SA_SQL_STREAM_SET " LIMIT 1")                                        \
    XX(OFFSET_PUT, "INSERT INTO source_offsets(source, file_key, \"offset\"," \
       " line, done, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"           \
       " ON CONFLICT(source, file_key) DO UPDATE SET"                       \
       " \"offset\" = excluded.\"offset\", line = excluded.line,"           \
       " done = excluded.done, updated_ms = excluded.updated_ms")           \
    XX(OFFSET_GET, "SELECT \"offset\", line, done FROM source_offsets"      \
       " WHERE source = ?1 AND file_key = ?2")                              \
    XX(DEADLETTER_INSERT, "INSERT INTO deadletters(created_ms, stream,"     \
       " source, location, reason, raw, raw_file, raw_offset, raw_length,"  \
       " header, file_key)"                                                 \
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")            \
    XX(OFFSET_LIST, "SELECT file_key, \"offset\", line, done"              \
       " FROM source_offsets WHERE source = ?1 ORDER BY file_key")          \
    XX(DEADLETTER_COUNT, "SELECT count(*) FROM deadletters")                \
    XX(DEADLETTER_COUNT_OPEN, "SELECT count(*) FROM deadletters"            \
       " WHERE state = 'open'")                                             \
    XX(DEADLETTER_OPEN_BY_STREAM, "SELECT stream, count(*)"                 \
       " FROM deadletters WHERE state = 'open'"                             \
       " GROUP BY stream ORDER BY stream")                                  \
    /* the newest open ones, without their raw input (the status page) */  \
    XX(DEADLETTER_LATEST, "SELECT id, created_ms, stream, source, location,"\
       " reason, NULL, state, resolved_ms, resolved_how, NULL, 0, 0, NULL,"  \
       " NULL, last_replay_error FROM deadletters WHERE state = 'open'"     \
       " ORDER BY id DESC LIMIT ?1")                                        \
    XX(DEADLETTER_LOCATIONS, "SELECT location FROM deadletters"             \
       " WHERE source = ?1")                                                \
    /* import: the files of the open ones at a path (?1 source, ?2 path) */ \
    XX(DEADLETTER_OPEN_KEYS_AT, "SELECT file_key, count(*) FROM deadletters"\
       " WHERE state = 'open' AND source = ?1"                              \
       " AND substr(location, 1, length(?2) + 1) = ?2 || ':'"               \
       " GROUP BY file_key")                                                \
    /* the open ones of a source kept by reference, per file (?1) */      \
    XX(DEADLETTER_OPEN_REFS, "SELECT file_key, count(*) FROM deadletters"   \
       " WHERE state = 'open' AND source = ?1 AND raw_file IS NOT NULL"     \
       " AND file_key IS NOT NULL GROUP BY file_key")                       \
    XX(DEADLETTER_LIST, "SELECT id, created_ms, stream, source, location,"  \
       " reason, raw, state, resolved_ms, resolved_how, raw_file,"          \
       " raw_offset, raw_length, header, file_key, last_replay_error"       \
       " FROM deadletters WHERE id > ?1"                                    \
       " ORDER BY id LIMIT ?2")                                             \
    XX(DEADLETTER_GET, "SELECT id, created_ms, stream, source, location,"   \
       " reason, raw, state, resolved_ms, resolved_how, raw_file,"          \
       " raw_offset, raw_length, header, file_key, last_replay_error"       \
       " FROM deadletters WHERE id = ?1")                                   \
    /* replay: resolve an open one (?1 id, ?2 resolved_ms, ?3 how) */       \
    XX(DEADLETTER_RESOLVE, "UPDATE deadletters SET state = 'resolved',"     \
       " resolved_ms = ?2, resolved_how = ?3"                               \
       " WHERE id = ?1 AND state = 'open'")                                 \
    /* replay: one still failing stays open, its reason kept, with why */   \
    XX(DEADLETTER_REPLAY_ERROR, "UPDATE deadletters"                        \
       " SET last_replay_error = ?2 WHERE id = ?1 AND state = 'open'")      \
    /* on_done moved a file: its dead letters say where it went (?1     \
     * source, ?2 file_key, ?3 old path, ?4 new path) */                   \
    XX(DEADLETTER_MOVED, "UPDATE deadletters"                              \
       " SET location = ?4 || substr(location, length(?3) + 1),"            \
       " raw_file = CASE WHEN raw_file = ?3 THEN ?4 ELSE raw_file END"      \
       " WHERE source = ?1 AND file_key = ?2"                               \
       " AND substr(location, 1, length(?3) + 1) = ?3 || ':'")              \
    XX(AUDIT_INSERT, "INSERT INTO audit(ts_ms, kind, detail)"               \
       " VALUES (?1, ?2, ?3)")                                              \
    XX(AUDIT_DROPPED, "SELECT coalesce(sum(json_extract(detail,"            \
       " '$.records')), 0) FROM audit WHERE kind = 'drop_oldest'")          \
    /* roll-ups: ?1 day, ?2 stream or sink, ?3 kind, then ?4 reason, ?5 n  \
     * (streams) or ?4 n (sinks) */                                        \
    XX(ROLLUP_STREAM_ADD, "INSERT INTO rollup_streams(day, stream, kind,"   \
       " reason, n) VALUES (?1, ?2, ?3, ?4, ?5)"                            \
       " ON CONFLICT(day, stream, kind, reason) DO UPDATE SET"              \
       " n = n + excluded.n")                                               \
    XX(ROLLUP_SINK_ADD, "INSERT INTO rollup_sinks(day, sink, kind, n)"      \
       " VALUES (?1, ?2, ?3, ?4)"                                           \
       " ON CONFLICT(day, sink, kind) DO UPDATE SET n = n + excluded.n")    \
    /* report: rows of day >= ?1 */                                        \
    XX(ROLLUP_STREAMS_SINCE, "SELECT day, stream, kind, reason, n"          \
       " FROM rollup_streams WHERE day >= ?1"                               \
       " ORDER BY day, stream, kind, reason")                               \
    XX(ROLLUP_SINKS_SINCE, "SELECT day, sink, kind, n FROM rollup_sinks"    \
       " WHERE day >= ?1 ORDER BY day, sink, kind")                         \
    /* status: quality failures in total per stream, rule and action */    \
    XX(ROLLUP_QUALITY_TOTALS, "SELECT stream, reason, kind, sum(n)"         \
       " FROM rollup_streams WHERE kind IN ('dropped', 'tagged')"           \
       " OR (kind = 'rejected' AND reason LIKE 'quality:%')"                \
       " GROUP BY stream, reason, kind ORDER BY stream, reason, kind")      \
    /* report: audit rows since ?1 (ms), oldest first, at most ?2 */       \
    XX(AUDIT_SINCE, "SELECT ts_ms, kind, detail FROM audit"                 \
       " WHERE ts_ms >= ?1 ORDER BY id LIMIT ?2")                           \
    XX(CURSOR_GET, "SELECT segment_id, record_index FROM sink_cursors"      \
       " WHERE sink = ?1")                                                  \
    XX(CURSOR_PUT, "INSERT INTO sink_cursors(sink, segment_id,"             \
       " record_index, updated_ms, superseded) VALUES (?1, ?2, ?3, ?4, ?5)" \
       " ON CONFLICT(sink) DO UPDATE SET segment_id = excluded.segment_id," \
       " record_index = excluded.record_index,"                             \
       " updated_ms = excluded.updated_ms,"                                 \
       " superseded = superseded + excluded.superseded")                    \
    XX(CURSOR_LIST, "SELECT sink, segment_id, record_index, updated_ms,"    \
       " superseded FROM sink_cursors ORDER BY sink")                       \
    XX(CURSOR_DELETE, "DELETE FROM sink_cursors WHERE sink = ?1")           \
    XX(SCHEMA_FIND, "SELECT id, fingerprint, definition FROM schemas"       \
       " WHERE subject = ?1 AND version = ?2")                              \
    XX(SCHEMA_INSERT, "INSERT INTO schemas(subject, version, fingerprint,"  \
       " definition) VALUES (?1, ?2, ?3, ?4)")                              \
    XX(SCHEMA_NEWEST, "SELECT id FROM schemas WHERE subject = ?1"           \
       " ORDER BY version DESC LIMIT 1")                                    \
    XX(SCHEMA_GET, "SELECT subject, version, definition FROM schemas"       \
       " WHERE id = ?1")                                                    \
    XX(STATUS_STREAMS, "SELECT stream, count(*), sum(count),"               \
       " sum(length(data)), min(first_seq), max(first_seq + count - 1),"    \
       " min(created_ms) FROM segments GROUP BY stream ORDER BY stream")    \
    /* in steps of 1024 pages: each step's moved pages go through the WAL,   \
     * which a checkpoint between steps empties (see vacuum_and_checkpoint) */ \
    XX(INCREMENTAL_VACUUM, "PRAGMA incremental_vacuum(1024)")               \
    XX(INTEGRITY_CHECK, "PRAGMA integrity_check")

/* --- salvage (salvage.c) --------------------------------------------------
 * Reading a damaged spool table by table, by rowid: a scan from ?1 on, and
 * a point lookup of one rowid to step over pages that cannot be read. The
 * columns after the rowid are the insert's parameters ?1..?n in order. */
#define SA_SQL_SALVAGE_CELL_SIZE_CHECK "PRAGMA cell_size_check = ON"
#define SA_SQL_SALVAGE_QUICK_CHECK "PRAGMA quick_check"
#define SA_SQL_SALVAGE_SEQUENCE                                             \
    "SELECT seq FROM sqlite_sequence WHERE name = 'segments'"
#define SA_SQL_SALVAGE_SEQUENCE_PUT                                         \
    "DELETE FROM sqlite_sequence WHERE name = 'segments';"                  \
    "INSERT INTO sqlite_sequence(name, seq) VALUES ('segments', ?1)"
#define SA_SQL_SALVAGE_META_PUT                                             \
    "INSERT INTO meta(key, value) VALUES (?1, ?2)"                          \
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
#define SA_SQL_SALVAGE_AUDIT                                                \
    "INSERT INTO audit(ts_ms, kind, detail) VALUES (?1, 'salvage', ?2)"
/* The dead letters of a format 2 spool (no state, no raw by reference):
 * what salvage reads when the format 3 columns are not there. */
#define SA_SQL_SALVAGE_DEADLETTERS_V2_COLUMNS                               \
    "id, created_ms, stream, source, location, reason, raw"
#define SA_SQL_SALVAGE_DEADLETTERS_V2_INSERT                                \
    "INSERT INTO deadletters(id, created_ms, stream, source, location,"     \
    " reason, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
#define SA_SQL_SALVAGE_TABLES(XX)                                           \
    XX(meta, "key, value", 2,                                               \
       "INSERT INTO meta(key, value) VALUES (?1, ?2)"                       \
       " ON CONFLICT(key) DO UPDATE SET value = excluded.value")            \
    XX(schemas, "id, subject, version, fingerprint, definition", 5,        \
       "INSERT INTO schemas(id, subject, version, fingerprint, definition)" \
       " VALUES (?1, ?2, ?3, ?4, ?5)")                                      \
    XX(segments, "id, stream, schema_id, first_seq, count, bytes,"          \
       " created_ms, min_event_ms, max_event_ms, codec, data", 11,          \
       "INSERT INTO segments(id, stream, schema_id, first_seq, count,"      \
       " bytes, created_ms, min_event_ms, max_event_ms, codec, data)"       \
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")            \
    XX(sink_cursors, "sink, segment_id, record_index, updated_ms", 4,       \
       "INSERT INTO sink_cursors(sink, segment_id, record_index,"           \
       " updated_ms) VALUES (?1, ?2, ?3, ?4)")                              \
    XX(source_offsets, "source, file_key, \"offset\", line, done,"          \
       " updated_ms", 6,                                                    \
       "INSERT INTO source_offsets(source, file_key, \"offset\", line,"     \
       " done, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                \
    XX(deadletters, "id, created_ms, stream, source, location, reason,"     \
       " raw, state, resolved_ms, resolved_how, raw_file, raw_offset,"      \
       " raw_length, header, file_key, last_replay_error", 16,              \
       "INSERT INTO deadletters(id, created_ms, stream, source, location,"  \
       " reason, raw, state, resolved_ms, resolved_how, raw_file,"          \
       " raw_offset, raw_length, header, file_key, last_replay_error)"      \
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"   \
       " ?14, ?15, ?16)")                                                   \
    XX(audit, "id, ts_ms, kind, detail", 4,                                 \
       "INSERT INTO audit(id, ts_ms, kind, detail) VALUES (?1, ?2, ?3, ?4)")

#endif
