/*
 * exitguard.h - a bound on the last steps of a process's exit.
 *
 * nng 1.5 can wait forever in nng_close() (and so in nng_fini()) after a
 * call that timed out against a stalled peer: its reaper may never finish
 * stopping the connection's pending receive, and the close waits for the
 * reaper. A program whose work is done (output written, outcomes
 * reported) arms the guard before closing its connections: if it has not
 * exited ms milliseconds later, the guard says so on stderr and exits with
 * the status it was given. Nothing is lost: exiting closes the sockets.
 */
#ifndef FLOW_EXITGUARD_H
#define FLOW_EXITGUARD_H

/* Starts the guard (a detached thread). program names the process in the
 * note; it must stay valid (a string literal). */
void exit_guard_arm(const char *program, int ms, int status);

#endif
