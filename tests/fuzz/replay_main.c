/*
 * Runs a fuzz target without libFuzzer, so every build exercises it: over
 * the seed files given on the command line, then over deterministic
 * mutations of them (byte flips, truncations, insertions; fixed seed).
 * Usage: <target>_replay [-n ITERATIONS] SEED...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		if (f)
			fclose(f);
		return NULL;
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void mutate_and_run(const uint8_t *seed, size_t len)
{
	size_t cap = len + 16;
	uint8_t *m = malloc(cap);
	size_t n = len;

	memcpy(m, seed, len);
	switch (next() % 4) {
	case 0: /* flip bytes */
		for (int k = 0; k < 4 && n; k++)
			m[next() % n] ^= (uint8_t)(1u << (next() % 8));
		break;
	case 1: /* truncate */
		n = n ? next() % n : 0;
		break;
	case 2: /* insert random bytes */
		for (int k = 0; k < 8; k++) {
			size_t at = n ? next() % n : 0;

			memmove(m + at + 1, m + at, n - at);
			m[at] = (uint8_t)next();
			n++;
		}
		break;
	default: /* set a byte to an edge value */
		if (n)
			m[next() % n] = (uint8_t[]){ 0x00, 0x7f, 0x80, 0xff }[next() % 4];
	}
	LLVMFuzzerTestOneInput(m, n);
	free(m);
}

int main(int argc, char **argv)
{
	long iterations = 20000;
	int first = 1, seeds = 0;

	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		iterations = strtol(argv[2], NULL, 10);
		first = 3;
	}
	for (int i = first; i < argc; i++) {
		size_t len = 0;
		uint8_t *s = slurp(argv[i], &len);

		if (s == NULL) {
			fprintf(stderr, "cannot read %s\n", argv[i]);
			return 1;
		}
		LLVMFuzzerTestOneInput(s, len);
		for (long k = 0; k < iterations / (argc - first); k++)
			mutate_and_run(s, len);
		free(s);
		seeds++;
	}
	printf("%d seeds, %ld runs: no crash\n", seeds, iterations + seeds);
	return seeds > 0 ? 0 : 1;
}
