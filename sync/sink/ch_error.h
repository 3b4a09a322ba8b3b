/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ClickHouse's error body, as its HTTP interface sends it when a query or
 * an INSERT is refused, parsed into the code and the message that the
 * clickhouse sink puts into a dead letter's reason and its log lines
 * (sync/sink/clickhouse.c). Two forms exist:
 *
 *   18.16 (Debian 12):  "Code: 27, e.displayText() = DB::Exception: Cannot
 *                        parse input: ...: (at row 2)\n, e.what() =
 *                        DB::Exception\n"
 *   newer servers:      "Code: 60. DB::Exception: Table default.nope does
 *                        not exist. (UNKNOWN_TABLE) (version 23.8.1.1)\n"
 *
 * The body comes from the network, so the parser is strict about the frame
 * (what is not one of the two forms is refused with a reason, never
 * guessed at) and the message is made safe to log: one line of valid
 * UTF-8, bounded.
 */
#ifndef SA_SYNC_CH_ERROR_H
#define SA_SYNC_CH_ERROR_H

#include "agent/base/error.h"

#include <stddef.h>
#include <stdint.h>

/* Room for the message, NUL included; a longer one is cut to end in
 * "...". 18.16 sends its whole MergeTree manual with some errors. */
#define SA_CH_MESSAGE_MAX 384
#define SA_CH_NAME_MAX 64
/* Largest code taken (ClickHouse's are below 1000 today). */
#define SA_CH_CODE_MAX 99999

struct sa_ch_error {
    int code;                        /* ClickHouse's error code */
    char name[SA_CH_NAME_MAX];       /* "UNKNOWN_TABLE" (newer form); "" */
    char message[SA_CH_MESSAGE_MAX]; /* without "DB::Exception: "; never "" */
    int64_t row;                     /* from "(at row N)"; 0: none */
};

/*
 * Parse body[0, len) (any bytes, no NUL needed, not kept; NULL when len is
 * 0). SA_OK with *out filled when it is one of the two forms: "Code: ",
 * 1-5 digits, then either ", e.displayText() = " MESSAGE ", e.what() = "
 * WHAT (WHAT one line; the last such separator counts, the message may hold
 * newlines) or ". " MESSAGE [" (NAME)"] [" (version V)"]. Trailing
 * whitespace is allowed. The message has "DB::Exception: " taken off its
 * front, every run of whitespace and control characters made one space,
 * every byte that is not part of well-formed UTF-8 made '?', and is cut at
 * a character boundary to fit. Otherwise SA_EPARSE and err says
 * "not a ClickHouse error body: <reason>".
 */
int sa_ch_error_parse(const void *body, size_t len, struct sa_ch_error *out /* out */,
                      struct sa_err *err);

/* The codes of errors about the rows of an INSERT's data (cannot parse a
 * value, a wrong type, an unknown field, a truncated row): the block is
 * refused because of some of its rows, and splitting it isolates them.
 * Other codes (no such table, too many parts, out of memory, ...) are
 * about the server or the table, not the rows. */
int sa_ch_error_is_row_error(int code);

#endif
