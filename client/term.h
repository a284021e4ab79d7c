/*
 * term.h - whether and how flowctl colors its output.
 *
 * Color is used only when all of these hold (https://no-color.org):
 *   - the stream is a terminal (isatty);
 *   - NO_COLOR is unset or empty (any non-empty value disables color);
 *   - TERM is set, non-empty and not "dumb".
 * Every colored output of flowctl asks term_color(); nothing else decides.
 */
#ifndef FLOW_TERM_H
#define FLOW_TERM_H

#include <stdbool.h>
#include <stdio.h>

/* ANSI SGR sequences; TERM_RESET ends any of them. */
#define TERM_GREEN "\x1b[32m"
#define TERM_YELLOW "\x1b[33m"
#define TERM_RED "\x1b[31m"
#define TERM_BOLD "\x1b[1m"
#define TERM_RESET "\x1b[0m"
/* Clears from the cursor to the end of the line. */
#define TERM_CLEAR_EOL "\x1b[K"

/* The rule above, from its inputs (no_color, term: the variables' values, NULL when unset). */
bool term_color_wanted(bool is_tty, const char *no_color, const char *term);

/*
 * Whether a terminal takes cursor control (\r is always fine; this is
 * about ESC[K and other sequences): TERM set, non-empty and not "dumb".
 * NO_COLOR does not matter here.
 */
bool term_ansi_wanted(bool is_tty, const char *term);

/* term_ansi_wanted for stream f and the process environment. */
bool term_ansi(FILE *f);

/* The rule above for stream f and the process environment. */
bool term_color(FILE *f);

/* Whether f is a terminal. */
bool term_is_tty(FILE *f);

/* Columns of the terminal f, or 0 when unknown (not a terminal). */
int term_columns(FILE *f);

#endif
