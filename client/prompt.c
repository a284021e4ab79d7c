/*
 * prompt.c - terminal and stdin prompts for usernames and passwords.
 */
#include "prompt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "status.h"

/* Signals that end or stop the process while echo is off. */
static const int watched[] = { SIGINT, SIGHUP, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU };
#define NWATCHED (sizeof(watched) / sizeof(watched[0]))

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
	caught = sig;
}

/* The line reader; stops at EINTR when a watched signal came (tty only). */
static int read_line(int fd, char *buf, size_t len, bool stop_on_signal)
{
	size_t n = 0;
	bool too_long = false;
	char c;

	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR && !(stop_on_signal && caught))
			continue;
		if (r < 0)
			return errno == EINTR ? FLOW_CANCELLED : FLOW_INTERNAL;
		if (r == 0 && n == 0 && !too_long)
			return FLOW_NOT_FOUND;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
		else
			too_long = true; /* read on to the end of the line */
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return too_long ? FLOW_OUT_OF_RANGE : FLOW_OK;
}

static int line_error(int rc, char *err, size_t errlen, const char *from)
{
	switch (rc) {
	case FLOW_NOT_FOUND:
		return status_errf(err, errlen, rc, "nothing to read on %s", from);
	case FLOW_OUT_OF_RANGE:
		return status_errf(err, errlen, rc, "the line read from %s is too long", from);
	case FLOW_CANCELLED:
		return status_errf(err, errlen, rc, "interrupted");
	default:
		return status_errf(err, errlen, rc, "cannot read from %s: %s", from,
				   strerror(errno));
	}
}

int prompt_read_line(int fd, char *buf, size_t len, char *err, size_t errlen)
{
	int rc = read_line(fd, buf, len, false);

	if (rc == FLOW_OK)
		return FLOW_OK;
	explicit_bzero(buf, len);
	return line_error(rc, err, errlen, fd == STDIN_FILENO ? "stdin" : "the input");
}

static void write_str(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* Installs on_signal (without SA_RESTART, so read returns EINTR). */
static void watch_signals(struct sigaction *saved)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	caught = 0;
	for (size_t i = 0; i < NWATCHED; i++)
		sigaction(watched[i], &sa, &saved[i]);
}

static void unwatch_signals(const struct sigaction *saved)
{
	for (size_t i = 0; i < NWATCHED; i++)
		sigaction(watched[i], &saved[i], NULL);
}

/* Reads with echo off; restores the terminal before any signal acts. */
static int read_secret(int fd, char *buf, size_t len)
{
	struct sigaction saved[NWATCHED];
	struct termios old, quiet;
	int rc, sig;

	if (tcgetattr(fd, &old) != 0)
		return FLOW_INTERNAL;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	watch_signals(saved);
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		unwatch_signals(saved);
		return FLOW_INTERNAL;
	}
	rc = read_line(fd, buf, len, true);
	tcsetattr(fd, TCSAFLUSH, &old);
	write_str(fd, "\n"); /* the newline the user typed was not echoed */
	unwatch_signals(saved);
	sig = caught;
	if (sig != 0) {
		explicit_bzero(buf, len);
		raise(sig); /* now with the old disposition; may not return */
		return FLOW_CANCELLED;
	}
	return rc;
}

int prompt_tty(const char *label, bool echo, char *buf, size_t len, char *err, size_t errlen)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int rc, saved_errno;

	if (fd < 0)
		return status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
				   "no terminal to prompt on (%s)", strerror(errno));
	write_str(fd, label);
	rc = echo ? read_line(fd, buf, len, false) : read_secret(fd, buf, len);
	saved_errno = errno;
	close(fd);
	if (rc == FLOW_OK)
		return FLOW_OK;
	explicit_bzero(buf, len);
	errno = saved_errno;
	return line_error(rc, err, errlen, "the terminal");
}
