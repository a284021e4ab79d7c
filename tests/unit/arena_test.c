/* unit.arena: the per-request bump allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"

static void test_alloc_aligned_and_distinct(void **state)
{
	arena *a = arena_new(1024);
	char *p = arena_alloc(a, 3), *q = arena_alloc(a, 5);

	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_int_equal((uintptr_t)q % 16, 0);
	assert_true(q >= p + 3);
	assert_int_equal(arena_used(a), 32);
	arena_free(a);
}

static void test_grows_past_first_block(void **state)
{
	arena *a = arena_new(1024);
	char *big = arena_alloc(a, 100000);

	assert_non_null(big);
	memset(big, 'x', 100000);
	for (int i = 0; i < 1000; i++)
		assert_non_null(arena_alloc(a, 200));
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	assert_non_null(arena_alloc(a, 10));
	arena_free(a);
}

static void test_strings(void **state)
{
	arena *a = arena_new(0);

	assert_string_equal(arena_strdup(a, "héllo"), "héllo");
	assert_null(arena_strdup(a, NULL));
	assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
	assert_string_equal(arena_printf(a, "%d-%s", 42, "x"), "42-x");
	char *z = arena_zalloc(a, 64);

	for (int i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	arena_free(a);
}

static void test_overflow_and_free_null(void **state)
{
	arena *a = arena_new(0);

	assert_null(arena_alloc(a, SIZE_MAX));
	assert_null(arena_alloc(a, SIZE_MAX - 8));
	arena_free(a);
	arena_free(NULL);
}

static void test_protobuf_allocator(void **state)
{
	arena *a = arena_new(0);
	ProtobufCAllocator *pa = arena_allocator(a);
	void *p = pa->alloc(pa->allocator_data, 100);

	assert_non_null(p);
	pa->free(pa->allocator_data, p); /* a no-op; the arena owns it */
	assert_int_equal(arena_used(a), 112);
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_aligned_and_distinct),
		cmocka_unit_test(test_grows_past_first_block),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_overflow_and_free_null),
		cmocka_unit_test(test_protobuf_allocator),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
