/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Thread names, so that `top -H`, `ps -L`, perf and gdb tell the agent's
 * threads apart ("sink:kafka", "spool-commit", "housekeeper") beside
 * librdkafka's own ("rdk:broker1").
 */
#ifndef SA_BASE_THREAD_H
#define SA_BASE_THREAD_H

/* Names the calling thread: the formatted text, cut to the 15 bytes
 * Linux keeps. Best effort: a failure changes nothing else. */
void sa_thread_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
