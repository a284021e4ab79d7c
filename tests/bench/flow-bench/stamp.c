/*
 * stamp.c - the latency mode's agent. Appends one line
 *   "<FLOW_QUEUE_ITEM_ID> <CLOCK_REALTIME in µs>\n"
 * to the file named by its argument and exits 0. It reads the clock before
 * anything else and does not read its stdin (flow-worker allows that).
 *
 * Built twice: into flow-bench (`flow-bench --agent-stamp FILE`) and, with
 * STAMP_STANDALONE, as flow-bench-stamp, a program linked statically with
 * nothing but the C library so that starting it costs as little as a
 * process can: the latency mode measures flowd and flow-worker, not a
 * dynamic loader.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int stamp_main(const char *path);

int stamp_main(const char *path)
{
	struct timespec ts;
	const char *id;
	char line[96];
	int fd, n;

	clock_gettime(CLOCK_REALTIME, &ts);
	id = getenv("FLOW_QUEUE_ITEM_ID");
	n = snprintf(line, sizeof(line), "%s %lld\n", id ? id : "0",
		     (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	if (path == NULL || (fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return 1;
	/* one write with O_APPEND: lines of concurrent agents never mix */
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

#ifdef STAMP_STANDALONE
int main(int argc, char **argv)
{
	return stamp_main(argc > 1 ? argv[1] : NULL);
}
#endif
