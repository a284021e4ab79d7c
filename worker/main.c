/* flow-worker: pulls queue items from flowd and runs agents (the queue-engine issue). */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "flow-worker: not built yet; see docs/architecture.md\n");
	return 2;
}
