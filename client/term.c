/* term.c - terminal detection and the color rule. See term.h. */
#include "term.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

bool term_ansi_wanted(bool is_tty, const char *term)
{
	return is_tty && term != NULL && term[0] != '\0' && strcmp(term, "dumb") != 0;
}

bool term_color_wanted(bool is_tty, const char *no_color, const char *term)
{
	if (no_color != NULL && no_color[0] != '\0')
		return false;
	return term_ansi_wanted(is_tty, term);
}

bool term_is_tty(FILE *f)
{
	int fd = fileno(f);

	return fd >= 0 && isatty(fd) == 1;
}

bool term_color(FILE *f)
{
	return term_color_wanted(term_is_tty(f), getenv("NO_COLOR"), getenv("TERM"));
}

bool term_ansi(FILE *f)
{
	return term_ansi_wanted(term_is_tty(f), getenv("TERM"));
}

int term_columns(FILE *f)
{
	struct winsize ws;
	int fd = fileno(f);

	if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
		return 0;
	return ws.ws_col;
}
