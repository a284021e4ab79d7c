/*
 * prompt.h - reading usernames and passwords: from the terminal (echo off
 * for secrets) or one line at a time from stdin (--password-stdin).
 *
 * Nothing here uses stdio buffers: lines are read with read(2) a byte at a
 * time, so no copy of a secret is left in a FILE buffer and a second line
 * on stdin is still there for the next call. The caller owns buf and must
 * wipe it (explicit_bzero) when done; on failure buf is wiped here.
 *
 * Returns a flow code: FLOW_OK; FLOW_NOT_FOUND (end of input before the
 * line); FLOW_OUT_OF_RANGE (line longer than len - 1 bytes);
 * FLOW_FAILED_PRECONDITION (no terminal); FLOW_CANCELLED (interrupted);
 * FLOW_INTERNAL (read error). err gets a message without the input.
 */
#ifndef FLOW_PROMPT_H
#define FLOW_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * One line from fd into buf, without its newline (a trailing "\r" is
 * dropped too); a last line without a newline counts.
 */
int prompt_read_line(int fd, char *buf, size_t len, char *err, size_t errlen);

/*
 * Writes label to the controlling terminal (/dev/tty, never stdout) and
 * reads one line from it; echo off when !echo. The terminal's settings
 * are restored on every path, also when a signal (Ctrl-C) interrupts the
 * prompt: the signal is then re-raised after the restore.
 */
int prompt_tty(const char *label, bool echo, char *buf, size_t len, char *err,
	       size_t errlen);

#endif
