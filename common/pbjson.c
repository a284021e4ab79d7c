/*
 * pbjson.c - generic JSON <-> protobuf-c conversion from descriptors.
 *
 * Reading builds the message field by field into memory from the caller's
 * allocator. Every intermediate state is one protobuf_c_message_free_unpacked
 * can release: a sub-message or array is linked into its parent as soon as it
 * is allocated, arrays start zeroed (NULL elements are skipped by the free),
 * and a oneof case is set before its member is filled in.
 */
#include "pbjson.h"

#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

#define PJ_MAX_DEPTH 64	/* nested messages, reading and checking */
#define PJ_PATH_MAX 256	/* error path, truncated beyond */
#define PJ_SHOW_MAX 40	/* bytes of a client's string quoted in an error */
#define PJ_SHOW_BUF (PJ_SHOW_MAX + 8)
#define PJ_NAME_MAX 128	/* JSON name of a field when writing */
#define PJ_SEEN_BITS 256	/* fields tracked on the stack for duplicate keys */

struct pj_ctx {
	ProtobufCAllocator *alloc;
	char *err;
	size_t errlen;
	int depth;
	size_t plen;
	char path[PJ_PATH_MAX];
};

/* A parsed integer: sign and magnitude, and its text for messages. */
struct pj_num {
	int neg;
	uint64_t mag;
	char text[PJ_SHOW_BUF];
};

struct pj_type {
	const char *name;
	size_t size;	  /* in a message and in a repeated array */
	uint64_t pos_max; /* integer types: largest value */
	uint64_t neg_max; /* integer types: magnitude of the smallest */
};

#define PJ_I32 INT32_MAX, (uint64_t)INT32_MAX + 1
#define PJ_I64 INT64_MAX, (uint64_t)INT64_MAX + 1

static const struct pj_type pj_types[] = {
	[PROTOBUF_C_TYPE_INT32] = { "int32", sizeof(int32_t), PJ_I32 },
	[PROTOBUF_C_TYPE_SINT32] = { "sint32", sizeof(int32_t), PJ_I32 },
	[PROTOBUF_C_TYPE_SFIXED32] = { "sfixed32", sizeof(int32_t), PJ_I32 },
	[PROTOBUF_C_TYPE_INT64] = { "int64", sizeof(int64_t), PJ_I64 },
	[PROTOBUF_C_TYPE_SINT64] = { "sint64", sizeof(int64_t), PJ_I64 },
	[PROTOBUF_C_TYPE_SFIXED64] = { "sfixed64", sizeof(int64_t), PJ_I64 },
	[PROTOBUF_C_TYPE_UINT32] = { "uint32", sizeof(uint32_t), UINT32_MAX, 0 },
	[PROTOBUF_C_TYPE_FIXED32] = { "fixed32", sizeof(uint32_t), UINT32_MAX, 0 },
	[PROTOBUF_C_TYPE_UINT64] = { "uint64", sizeof(uint64_t), UINT64_MAX, 0 },
	[PROTOBUF_C_TYPE_FIXED64] = { "fixed64", sizeof(uint64_t), UINT64_MAX, 0 },
	[PROTOBUF_C_TYPE_FLOAT] = { "float", sizeof(float), 0, 0 },
	[PROTOBUF_C_TYPE_DOUBLE] = { "double", sizeof(double), 0, 0 },
	[PROTOBUF_C_TYPE_BOOL] = { "bool", sizeof(protobuf_c_boolean), 0, 0 },
	[PROTOBUF_C_TYPE_ENUM] = { "enum", sizeof(int), 0, 0 },
	[PROTOBUF_C_TYPE_STRING] = { "string", sizeof(char *), 0, 0 },
	[PROTOBUF_C_TYPE_BYTES] = { "bytes", sizeof(ProtobufCBinaryData), 0, 0 },
	[PROTOBUF_C_TYPE_MESSAGE] = { "message", sizeof(ProtobufCMessage *), 0, 0 },
};

#define PJ_N_TYPES (sizeof(pj_types) / sizeof(pj_types[0]))

static const char pj_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* --- allocation --- */

/* Same as protobuf-c's default allocator, which it does not export. */
static void *pj_sys_alloc(void *data, size_t size)
{
	(void)data;
	return malloc(size);
}

static void pj_sys_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

static ProtobufCAllocator pj_system_allocator = {
	.alloc = pj_sys_alloc,
	.free = pj_sys_free,
	.allocator_data = NULL,
};

static void *pj_alloc(struct pj_ctx *c, size_t size)
{
	return c->alloc->alloc(c->alloc->allocator_data, size);
}

static void pj_free(struct pj_ctx *c, void *ptr)
{
	if (ptr != NULL)
		c->alloc->free(c->alloc->allocator_data, ptr);
}

/* --- errors and paths --- */

/* Copies at most PJ_SHOW_MAX bytes of s for an error message, whole UTF-8
 * characters only, with control characters, quotes and backslashes as '?'. */
static const char *pj_show(const char *s, size_t n, char *buf, size_t len)
{
	size_t i, j = 0;
	int cut = n > PJ_SHOW_MAX;

	if (cut) {
		n = PJ_SHOW_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	for (i = 0; i < n && j + 4 < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[j++] = (ch < 0x20 || ch == 0x7F || ch == '"' || ch == '\\') ? '?' : (char)ch;
	}
	if (cut) {
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	buf[j] = '\0';
	return buf;
}

static void pj_path_add(struct pj_ctx *c, const char *sep, const char *text)
{
	int n;

	if (c->plen + 1 >= sizeof(c->path))
		return;
	n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", sep, text);
	if (n > 0)
		c->plen += (size_t)n;
	if (c->plen >= sizeof(c->path))
		c->plen = sizeof(c->path) - 1;
}

/* Appends ".key" (just "key" at the top); returns what pj_pop needs. */
static size_t pj_push_key(struct pj_ctx *c, const char *key)
{
	size_t old = c->plen;
	char buf[PJ_SHOW_BUF];

	pj_path_add(c, old ? "." : "", pj_show(key, strlen(key), buf, sizeof(buf)));
	return old;
}

static size_t pj_push_index(struct pj_ctx *c, size_t i)
{
	size_t old = c->plen;
	char buf[32];

	snprintf(buf, sizeof(buf), "%zu]", i);
	pj_path_add(c, "[", buf);
	return old;
}

static void pj_pop(struct pj_ctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* Writes "path: message" to the caller's buffer; returns FLOW_INVALID_ARGUMENT. */
static int pj_fail(struct pj_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pj_fail(struct pj_ctx *c, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (c->err == NULL || c->errlen == 0)
		return FLOW_INVALID_ARGUMENT;
	if (c->plen > 0)
		n = snprintf(c->err, c->errlen, "%s: ", c->path);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return FLOW_INVALID_ARGUMENT;
}

static int pj_oom(struct pj_ctx *c)
{
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "out of memory");
	return FLOW_RESOURCE_EXHAUSTED;
}

/* Shortest %g form that reads back as d. */
static const char *pj_fmt_double(double d, char *buf, size_t len)
{
	snprintf(buf, len, "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, len, "%.17g", d);
	return buf;
}

const char *pbjson_describe(const json_t *v, char *buf, size_t len)
{
	char tmp[PJ_SHOW_BUF];

	if (v == NULL)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		pj_show(json_string_value(v), json_string_length(v), tmp, sizeof(tmp));
		snprintf(buf, len, "a string \"%s\"", tmp);
		return buf;
	case JSON_INTEGER:
		snprintf(buf, len, "a number %" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, len, "a number %s",
			 pj_fmt_double(json_real_value(v), tmp, sizeof(tmp)));
		return buf;
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	default:
		return "null";
	}
}

static int pj_expected(struct pj_ctx *c, const char *what, const json_t *v)
{
	char buf[PJ_SHOW_BUF + 32];

	return pj_fail(c, "expected %s, got %s", what, pbjson_describe(v, buf, sizeof(buf)));
}

/* --- names --- */

void pbjson_json_name(const char *proto_name, char *buf, size_t len)
{
	size_t j = 0;
	int upper = 0;

	if (len == 0)
		return;
	for (; *proto_name != '\0' && j + 1 < len; proto_name++) {
		char ch = *proto_name;

		if (ch == '_') {
			upper = 1;
			continue;
		}
		if (upper && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		upper = 0;
		buf[j++] = ch;
	}
	buf[j] = '\0';
}

/* key is proto_name or its JSON name (compared without a buffer). */
static int pj_name_matches(const char *proto_name, const char *key)
{
	const char *k = key;
	int upper = 0;

	if (strcmp(proto_name, key) == 0)
		return 1;
	for (; *proto_name != '\0'; proto_name++) {
		char ch = *proto_name;

		if (ch == '_') {
			upper = 1;
			continue;
		}
		if (upper && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		upper = 0;
		if (*k++ != ch)
			return 0;
	}
	return *k == '\0';
}

static const ProtobufCFieldDescriptor *pj_find_field(const ProtobufCMessageDescriptor *d,
						     const char *key)
{
	unsigned i;

	for (i = 0; i < d->n_fields; i++)
		if (pj_name_matches(d->fields[i].name, key))
			return &d->fields[i];
	return NULL;
}

static const ProtobufCFieldDescriptor *pj_field_by_id(const ProtobufCMessageDescriptor *d,
						      uint32_t id)
{
	unsigned i;

	for (i = 0; i < d->n_fields; i++)
		if (d->fields[i].id == id)
			return &d->fields[i];
	return NULL;
}

/* --- UTF-8 --- */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t pj_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char b = s[0], lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF) {
		len = 2;
	} else if (b >= 0xE0 && b <= 0xEF) {
		len = 3;
		lo = b == 0xE0 ? 0xA0 : lo;
		hi = b == 0xED ? 0x9F : hi;
	} else if (b >= 0xF0 && b <= 0xF4) {
		len = 4;
		lo = b == 0xF0 ? 0x90 : lo;
		hi = b == 0xF4 ? 0x8F : hi;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

static int pj_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k;

	while (n > 0) {
		k = pj_utf8_seq(p, n);
		if (k == 0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

/* --- reading: scalars --- */

/* NUL-terminated text of a JSON string, NULL if it holds a NUL byte. */
static const char *pj_cstr(const json_t *v)
{
	const char *s = json_string_value(v);

	return strlen(s) == json_string_length(v) ? s : NULL;
}

/* strtod restricted to decimal notation: no hex, inf, nan or spaces. */
static int pj_strtod(const char *s, double *out)
{
	char *end;

	if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
		return -1;
	*out = strtod(s, &end);
	return *end == '\0' ? 0 : -1;
}

/* 1: s is [-]digits and fits in 64 bits; -1: too big; 0: not that form. */
static int pj_parse_decimal(const char *s, struct pj_num *n)
{
	uint64_t mag = 0;
	int over = 0;

	n->neg = *s == '-';
	if (n->neg)
		s++;
	if (*s < '0' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (mag > (UINT64_MAX - d) / 10)
			over = 1;
		else
			mag = mag * 10 + d;
	}
	if (*s != '\0')
		return 0;
	n->mag = mag;
	return over ? -1 : 1;
}

static int pj_real_to_int(struct pj_ctx *c, double d, struct pj_num *n, const char *type)
{
	if (!isfinite(d) || fabs(d) >= 18446744073709551616.0)
		return pj_fail(c, "%s is out of range for %s", n->text, type);
	if (d != trunc(d))
		return pj_fail(c, "%s is not an integer", n->text);
	n->neg = signbit(d) != 0;
	n->mag = (uint64_t)fabs(d);
	return FLOW_OK;
}

static int pj_string_to_int(struct pj_ctx *c, const json_t *v, struct pj_num *n,
			    const char *type)
{
	const char *s = pj_cstr(v);
	double d;

	if (s == NULL)
		return pj_expected(c, "an integer", v);
	pj_show(s, strlen(s), n->text, sizeof(n->text));
	switch (pj_parse_decimal(s, n)) {
	case 1:
		return FLOW_OK;
	case -1:
		return pj_fail(c, "%s is out of range for %s", n->text, type);
	}
	if (pj_strtod(s, &d) == 0)
		return pj_real_to_int(c, d, n, type);
	return pj_expected(c, "an integer", v);
}

/* Reads any integer form into n and checks it fits the field's type. */
static int pj_get_num(struct pj_ctx *c, const json_t *v, const struct pj_type *t,
		      struct pj_num *n)
{
	json_int_t i;
	int rc;

	if (json_is_integer(v)) {
		i = json_integer_value(v);
		n->neg = i < 0;
		n->mag = n->neg ? -(uint64_t)i : (uint64_t)i;
		snprintf(n->text, sizeof(n->text), "%" JSON_INTEGER_FORMAT, i);
		rc = FLOW_OK;
	} else if (json_is_real(v)) {
		pj_fmt_double(json_real_value(v), n->text, sizeof(n->text));
		rc = pj_real_to_int(c, json_real_value(v), n, t->name);
	} else if (json_is_string(v)) {
		rc = pj_string_to_int(c, v, n, t->name);
	} else {
		return pj_expected(c, "an integer", v);
	}
	if (rc == FLOW_OK && n->mag > (n->neg ? t->neg_max : t->pos_max))
		rc = pj_fail(c, "%s is out of range for %s", n->text, t->name);
	return rc;
}

static int pj_get_int(struct pj_ctx *c, const json_t *v, const ProtobufCFieldDescriptor *f,
		      void *p)
{
	const struct pj_type *t = &pj_types[f->type];
	struct pj_num n;
	uint64_t u;
	uint32_t u32;
	int rc;

	rc = pj_get_num(c, v, t, &n);
	if (rc != FLOW_OK)
		return rc;
	/* Two's complement through unsigned arithmetic: no overflow. */
	u = n.neg ? -n.mag : n.mag;
	if (t->size == sizeof(uint32_t)) {
		u32 = (uint32_t)u;
		memcpy(p, &u32, sizeof(u32));
	} else {
		memcpy(p, &u, sizeof(u));
	}
	return FLOW_OK;
}

static int pj_string_to_real(struct pj_ctx *c, const json_t *v, double *d, const char *type)
{
	const char *s = pj_cstr(v);
	char buf[PJ_SHOW_BUF];

	if (s == NULL)
		return pj_expected(c, "a number", v);
	if (strcmp(s, "NaN") == 0)
		*d = NAN;
	else if (strcmp(s, "Infinity") == 0)
		*d = INFINITY;
	else if (strcmp(s, "-Infinity") == 0)
		*d = -INFINITY;
	else if (pj_strtod(s, d) != 0)
		return pj_expected(c, "a number", v);
	else if (isinf(*d))
		return pj_fail(c, "%s is out of range for %s",
			       pj_show(s, strlen(s), buf, sizeof(buf)), type);
	return FLOW_OK;
}

static int pj_get_real(struct pj_ctx *c, const json_t *v, const ProtobufCFieldDescriptor *f,
		       void *p)
{
	const char *type = pj_types[f->type].name;
	char buf[PJ_SHOW_BUF];
	double d;
	float fl;
	int rc;

	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (json_is_string(v)) {
		rc = pj_string_to_real(c, v, &d, type);
		if (rc != FLOW_OK)
			return rc;
	} else {
		return pj_expected(c, "a number", v);
	}
	if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
		memcpy(p, &d, sizeof(d));
		return FLOW_OK;
	}
	if (isfinite(d) && fabs(d) > FLT_MAX)
		return pj_fail(c, "%s is out of range for float",
			       pj_fmt_double(d, buf, sizeof(buf)));
	fl = (float)d;
	memcpy(p, &fl, sizeof(fl));
	return FLOW_OK;
}

static int pj_get_bool(struct pj_ctx *c, const json_t *v, void *p)
{
	protobuf_c_boolean b;

	if (!json_is_boolean(v))
		return pj_expected(c, "true or false", v);
	b = json_is_true(v);
	memcpy(p, &b, sizeof(b));
	return FLOW_OK;
}

static int pj_get_enum(struct pj_ctx *c, const json_t *v, const ProtobufCFieldDescriptor *f,
		       void *p)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	const ProtobufCEnumValue *ev = NULL;
	const char *s;
	char buf[PJ_SHOW_BUF];
	json_int_t i;

	if (json_is_string(v)) {
		s = pj_cstr(v);
		if (s != NULL)
			ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
		if (ev == NULL)
			return pj_fail(c, "unknown value \"%s\" for enum %s",
				       pj_show(json_string_value(v), json_string_length(v), buf,
					       sizeof(buf)),
				       ed->name);
	} else if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i >= INT32_MIN && i <= INT32_MAX)
			ev = protobuf_c_enum_descriptor_get_value(ed, (int)i);
		if (ev == NULL)
			return pj_fail(c, "%" JSON_INTEGER_FORMAT " is not a value of enum %s", i,
				       ed->name);
	} else {
		return pj_expected(c, "an enum value name", v);
	}
	memcpy(p, &ev->value, sizeof(int));
	return FLOW_OK;
}

static int pj_get_string(struct pj_ctx *c, const json_t *v, void *p)
{
	size_t len;
	char *s;

	if (!json_is_string(v))
		return pj_expected(c, "a string", v);
	if (pj_cstr(v) == NULL)
		return pj_fail(c, "contains a NUL character");
	len = json_string_length(v);
	s = pj_alloc(c, len + 1);
	if (s == NULL)
		return pj_oom(c);
	memcpy(s, json_string_value(v), len + 1);
	memcpy(p, &s, sizeof(s));
	return FLOW_OK;
}

/* --- reading: bytes (base64, standard or URL-safe alphabet, padding optional) --- */

static int pj_b64_value(char ch)
{
	const char *hit;

	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	hit = ch != '\0' ? strchr(pj_b64, ch) : NULL;
	return hit != NULL ? (int)(hit - pj_b64) : -1;
}

/* Decodes into out (room for len / 4 * 3 + 3 bytes); -1 if s is not base64. */
static int pj_b64_decode(const char *s, size_t len, uint8_t *out, size_t *outlen)
{
	size_t i, n = 0, pad = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	int v;

	while (len > 0 && s[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if ((pad > 0 && (len + pad) % 4 != 0) || len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		v = pj_b64_value(s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = n;
	return 0;
}

static int pj_get_bytes(struct pj_ctx *c, const json_t *v, void *p)
{
	ProtobufCBinaryData bd = { 0, NULL };
	size_t len;
	uint8_t *buf;

	if (!json_is_string(v))
		return pj_expected(c, "a base64 string", v);
	len = json_string_length(v);
	if (len > 0) {
		buf = pj_alloc(c, len / 4 * 3 + 3);
		if (buf == NULL)
			return pj_oom(c);
		if (pj_b64_decode(json_string_value(v), len, buf, &bd.len) != 0) {
			pj_free(c, buf);
			return pj_fail(c, "not valid base64");
		}
		bd.data = buf;
	}
	memcpy(p, &bd, sizeof(bd));
	return FLOW_OK;
}

/* --- reading: messages and fields --- */

static int pj_parse_object(struct pj_ctx *c, const json_t *obj, ProtobufCMessage *m);

/* Allocates and initialises a message and stores it in *slot at once. */
static int pj_new_message(struct pj_ctx *c, const ProtobufCMessageDescriptor *d,
			  ProtobufCMessage **slot)
{
	ProtobufCMessage *m;

	if (d == NULL || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
		return pj_fail(c, "no message descriptor");
	m = pj_alloc(c, d->sizeof_message);
	if (m == NULL)
		return pj_oom(c);
	protobuf_c_message_init(d, m);
	*slot = m;
	return FLOW_OK;
}

static int pj_get_message(struct pj_ctx *c, const json_t *v, const ProtobufCFieldDescriptor *f,
			  void *p)
{
	ProtobufCMessage **slot = p;
	int rc;

	if (!json_is_object(v))
		return pj_expected(c, "an object", v);
	rc = pj_new_message(c, f->descriptor, slot);
	if (rc != FLOW_OK)
		return rc;
	return pj_parse_object(c, v, *slot);
}

/* Reads one value (a singular field or one array element) into p. */
static int pj_get_value(struct pj_ctx *c, const json_t *v, const ProtobufCFieldDescriptor *f,
			void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return pj_get_int(c, v, f, p);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return pj_get_real(c, v, f, p);
	case PROTOBUF_C_TYPE_BOOL:
		return pj_get_bool(c, v, p);
	case PROTOBUF_C_TYPE_ENUM:
		return pj_get_enum(c, v, f, p);
	case PROTOBUF_C_TYPE_STRING:
		return pj_get_string(c, v, p);
	case PROTOBUF_C_TYPE_BYTES:
		return pj_get_bytes(c, v, p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return pj_get_message(c, v, f, p);
	}
	pj_fail(c, "unsupported field type %d", (int)f->type);
	return FLOW_INTERNAL;
}

static int pj_set_repeated(struct pj_ctx *c, const json_t *v, const ProtobufCFieldDescriptor *f,
			   ProtobufCMessage *m)
{
	size_t n = json_array_size(v), elt, i, old;
	char *arr;
	int rc;

	if (!json_is_array(v))
		return pj_expected(c, "an array", v);
	if ((unsigned)f->type >= PJ_N_TYPES)
		return pj_get_value(c, v, f, NULL); /* reports the type */
	elt = pj_types[f->type].size;
	if (n == 0)
		return FLOW_OK;
	arr = n <= SIZE_MAX / elt ? pj_alloc(c, n * elt) : NULL;
	if (arr == NULL)
		return pj_oom(c);
	memset(arr, 0, n * elt);
	/* Linked with its full count now: zeroed elements are safe to free. */
	memcpy((char *)m + f->offset, &arr, sizeof(arr));
	memcpy((char *)m + f->quantifier_offset, &n, sizeof(n));
	for (i = 0; i < n; i++) {
		old = pj_push_index(c, i);
		rc = pj_get_value(c, json_array_get(v, i), f, arr + i * elt);
		if (rc != FLOW_OK)
			return rc;
		pj_pop(c, old);
	}
	return FLOW_OK;
}

/* Marks a oneof member as the chosen one before it is filled in. */
static int pj_claim_oneof(struct pj_ctx *c, const ProtobufCFieldDescriptor *f,
			  ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *other;
	char name[PJ_NAME_MAX];
	uint32_t cs;

	memcpy(&cs, (char *)m + f->quantifier_offset, sizeof(cs));
	if (cs != 0 && cs != f->id) {
		other = pj_field_by_id(m->descriptor, cs);
		pbjson_json_name(other != NULL ? other->name : "?", name, sizeof(name));
		return pj_fail(c, "cannot be set together with %s (same oneof)", name);
	}
	cs = f->id;
	memcpy((char *)m + f->quantifier_offset, &cs, sizeof(cs));
	return FLOW_OK;
}

/* A proto2 optional scalar or bytes field: presence is a has_ flag. */
static int pj_has_flag(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	       f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

static int pj_set_field(struct pj_ctx *c, const json_t *v, const ProtobufCFieldDescriptor *f,
			ProtobufCMessage *m)
{
	protobuf_c_boolean has = 1;
	int rc;

	if (json_is_null(v))
		return FLOW_OK;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return pj_set_repeated(c, v, f, m);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		rc = pj_claim_oneof(c, f, m);
		if (rc != FLOW_OK)
			return rc;
	}
	rc = pj_get_value(c, v, f, (char *)m + f->offset);
	if (rc == FLOW_OK && pj_has_flag(f))
		memcpy((char *)m + f->quantifier_offset, &has, sizeof(has));
	return rc;
}

static int pj_check_keys(struct pj_ctx *c, const json_t *obj, const ProtobufCMessageDescriptor *d)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		if (pj_find_field(d, key) == NULL) {
			pj_push_key(c, key);
			return pj_fail(c, "unknown field");
		}
	}
	return FLOW_OK;
}

/* Sets the fields of obj; a field given twice (snake and camel) is an error. */
static int pj_set_fields(struct pj_ctx *c, const json_t *obj, ProtobufCMessage *m,
			 unsigned char *seen)
{
	const ProtobufCFieldDescriptor *f;
	const char *key;
	json_t *v;
	size_t idx, old;
	int rc;

	json_object_foreach((json_t *)obj, key, v) {
		f = pj_find_field(m->descriptor, key);
		idx = (size_t)(f - m->descriptor->fields);
		old = pj_push_key(c, key);
		if (seen[idx / 8] & (1u << (idx % 8)))
			return pj_fail(c, "field given twice (as snake_case and lowerCamelCase)");
		seen[idx / 8] |= (unsigned char)(1u << (idx % 8));
		rc = pj_set_field(c, v, f, m);
		if (rc != FLOW_OK)
			return rc;
		pj_pop(c, old);
	}
	return FLOW_OK;
}

static int pj_parse_object(struct pj_ctx *c, const json_t *obj, ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned char seen_stack[PJ_SEEN_BITS / 8] = { 0 };
	unsigned char *seen = seen_stack;
	int rc;

	if (c->depth >= PJ_MAX_DEPTH)
		return pj_fail(c, "nested more than %d levels deep", PJ_MAX_DEPTH);
	rc = pj_check_keys(c, obj, d);
	if (rc != FLOW_OK)
		return rc;
	if (d->n_fields > PJ_SEEN_BITS) {
		seen = calloc(d->n_fields / 8 + 1, 1);
		if (seen == NULL)
			return pj_oom(c);
	}
	c->depth++;
	rc = pj_set_fields(c, obj, m, seen);
	c->depth--;
	if (seen != seen_stack)
		free(seen);
	return rc;
}

int pbjson_to_message(const json_t *obj, const ProtobufCMessageDescriptor *desc,
		      ProtobufCAllocator *alloc, ProtobufCMessage **out, char *err,
		      size_t errlen)
{
	struct pj_ctx c = { .alloc = alloc != NULL ? alloc : &pj_system_allocator,
			    .err = err,
			    .errlen = errlen };
	ProtobufCMessage *m = NULL;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return pj_fail(&c, "no output message");
	if (!json_is_object(obj))
		return pj_expected(&c, "a JSON object", obj);
	rc = pj_new_message(&c, desc, &m);
	if (rc == FLOW_OK)
		rc = pj_parse_object(&c, obj, m);
	if (rc != FLOW_OK) {
		if (m != NULL)
			protobuf_c_message_free_unpacked(m, c.alloc);
		return rc;
	}
	*out = m;
	return FLOW_OK;
}

/* --- writing --- */

static json_t *pj_from_msg(const ProtobufCMessage *m);

/* A string as JSON; invalid UTF-8 bytes become U+FFFD rather than failing. */
static json_t *pj_json_string(const char *s)
{
	size_t n = strlen(s), i = 0, j = 0, k;
	json_t *v;
	char *buf;

	if (pj_utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	buf = n <= (SIZE_MAX - 1) / 3 ? malloc(n * 3 + 1) : NULL;
	if (buf == NULL)
		return NULL;
	while (i < n) {
		k = pj_utf8_seq((const unsigned char *)s + i, n - i);
		if (k == 0) { /* one bad byte -> U+FFFD */
			memcpy(buf + j, "\xEF\xBF\xBD", 3);
			j += 3;
			i++;
		} else {
			memcpy(buf + j, s + i, k);
			i += k;
			j += k;
		}
	}
	v = json_stringn_nocheck(buf, j);
	free(buf);
	return v;
}

static json_t *pj_json_real(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

/* The double with the fewest digits that converts back to f: 0.1f -> 0.1. */
static double pj_float_to_double(float f)
{
	char buf[32];
	int prec;

	if (!isfinite(f))
		return f;
	for (prec = 6; prec < 9; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, (double)f);
		if ((float)strtod(buf, NULL) == f)
			return strtod(buf, NULL);
	}
	return f;
}

static json_t *pj_json_bytes(const ProtobufCBinaryData *bd)
{
	size_t n = bd->data != NULL ? bd->len : 0, i, j = 0;
	uint32_t w;
	json_t *v;
	char *buf;

	buf = n / 3 < (SIZE_MAX - 8) / 4 ? malloc(n / 3 * 4 + 5) : NULL;
	if (buf == NULL)
		return NULL;
	for (i = 0; i < n; i += 3) {
		w = (uint32_t)bd->data[i] << 16;
		w |= i + 1 < n ? (uint32_t)bd->data[i + 1] << 8 : 0;
		w |= i + 2 < n ? bd->data[i + 2] : 0;
		buf[j++] = pj_b64[w >> 18 & 63];
		buf[j++] = pj_b64[w >> 12 & 63];
		buf[j++] = i + 1 < n ? pj_b64[w >> 6 & 63] : '=';
		buf[j++] = i + 2 < n ? pj_b64[w & 63] : '=';
	}
	v = json_stringn_nocheck(buf, j);
	free(buf);
	return v;
}

static json_t *pj_json_uint64(uint64_t u)
{
	char buf[24];

	if (u <= (uint64_t)LLONG_MAX)
		return json_integer((json_int_t)u);
	snprintf(buf, sizeof(buf), "%" PRIu64, u);
	return json_string(buf);
}

static json_t *pj_json_enum(const ProtobufCFieldDescriptor *f, int value)
{
	const ProtobufCEnumValue *ev;

	ev = protobuf_c_enum_descriptor_get_value(f->descriptor, value);
	return ev != NULL ? json_string(ev->name) : json_integer(value);
}

/* One value (a singular field or an array element) stored at p. */
static json_t *pj_from_value(const ProtobufCFieldDescriptor *f, const void *p)
{
	const void *ptr;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return pj_json_uint64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return pj_json_real(pj_float_to_double(*(const float *)p));
	case PROTOBUF_C_TYPE_DOUBLE:
		return pj_json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return pj_json_enum(f, *(const int *)p);
	case PROTOBUF_C_TYPE_BYTES:
		return pj_json_bytes(p);
	case PROTOBUF_C_TYPE_STRING:
		ptr = *(const void *const *)p;
		return ptr != NULL ? pj_json_string(ptr) : json_null();
	case PROTOBUF_C_TYPE_MESSAGE:
		ptr = *(const void *const *)p;
		return ptr != NULL ? pj_from_msg(ptr) : json_null();
	}
	return json_null();
}

static int pj_is_zero(const ProtobufCFieldDescriptor *f, const char *p)
{
	static const char zero[8];
	const char *s;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		s = *(const char *const *)p;
		return s == NULL || *s == '\0';
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(const void *const *)p == NULL;
	default:
		if ((unsigned)f->type >= PJ_N_TYPES)
			return 1;
		return memcmp(p, zero, pj_types[f->type].size) == 0;
	}
}

/* Whether a field is present: has_ flags, non-NULL pointers, oneof case. */
static int pj_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *b = (const char *)m;
	const void *ptr;
	protobuf_c_boolean has;
	uint32_t cs;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		memcpy(&cs, b + f->quantifier_offset, sizeof(cs));
		return cs == f->id;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return 1;
	if (f->label == PROTOBUF_C_LABEL_NONE) /* proto3: present unless zero */
		return !pj_is_zero(f, b + f->offset);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(const void *const *)(b + f->offset) != NULL;
	if (f->type == PROTOBUF_C_TYPE_STRING) { /* the default is not sent, as in pack */
		ptr = *(const void *const *)(b + f->offset);
		return ptr != NULL && (f->label == PROTOBUF_C_LABEL_REQUIRED ||
				       ptr != f->default_value);
	}
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	memcpy(&has, b + f->quantifier_offset, sizeof(has));
	return has;
}

static json_t *pj_from_repeated(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *b = (const char *)m;
	const char *arr = *(const char *const *)(b + f->offset);
	json_t *a = json_array();
	size_t n, i, elt;

	memcpy(&n, b + f->quantifier_offset, sizeof(n));
	if (a == NULL || arr == NULL || (unsigned)f->type >= PJ_N_TYPES)
		return a;
	elt = pj_types[f->type].size;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(a, pj_from_value(f, arr + i * elt)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *pj_from_msg(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	char key[PJ_NAME_MAX];
	json_t *obj = json_object();
	json_t *v;
	unsigned i;

	for (i = 0; obj != NULL && i < d->n_fields; i++) {
		f = &d->fields[i];
		if (!pj_present(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			v = pj_from_repeated(m, f);
		else
			v = pj_from_value(f, (const char *)m + f->offset);
		pbjson_json_name(f->name, key, sizeof(key));
		if (json_object_set_new(obj, key, v) != 0) {
			json_decref(obj);
			obj = NULL;
		}
	}
	return obj;
}

json_t *pbjson_from_message(const ProtobufCMessage *msg)
{
	if (msg == NULL || msg->descriptor == NULL)
		return NULL;
	return pj_from_msg(msg);
}

/* --- string checks --- */

static int pj_check_msg(struct pj_ctx *c, const ProtobufCMessage *m, size_t max_len);

static int pj_check_value(struct pj_ctx *c, const ProtobufCFieldDescriptor *f, const void *p,
			  size_t max_len)
{
	const void *ptr = *(const void *const *)p;
	size_t len;

	if (ptr == NULL)
		return FLOW_OK;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return pj_check_msg(c, ptr, max_len);
	len = strlen(ptr);
	if (max_len > 0 && len > max_len)
		return pj_fail(c, "longer than %zu bytes", max_len);
	if (!pj_utf8_valid(ptr, len))
		return pj_fail(c, "not valid UTF-8");
	return FLOW_OK;
}

static int pj_check_field(struct pj_ctx *c, const ProtobufCMessage *m,
			  const ProtobufCFieldDescriptor *f, size_t max_len)
{
	const char *b = (const char *)m;
	const char *arr;
	size_t n, i, old;
	int rc;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return pj_check_value(c, f, b + f->offset, max_len);
	arr = *(const char *const *)(b + f->offset);
	memcpy(&n, b + f->quantifier_offset, sizeof(n));
	for (i = 0; arr != NULL && i < n; i++) {
		old = pj_push_index(c, i);
		rc = pj_check_value(c, f, arr + i * sizeof(void *), max_len);
		if (rc != FLOW_OK)
			return rc;
		pj_pop(c, old);
	}
	return FLOW_OK;
}

static int pj_check_msg(struct pj_ctx *c, const ProtobufCMessage *m, size_t max_len)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	char name[PJ_NAME_MAX];
	size_t old;
	unsigned i;
	int rc;

	if (c->depth >= PJ_MAX_DEPTH)
		return pj_fail(c, "nested more than %d levels deep", PJ_MAX_DEPTH);
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (!pj_present(m, f))
			continue;
		pbjson_json_name(f->name, name, sizeof(name));
		old = pj_push_key(c, name);
		c->depth++;
		rc = pj_check_field(c, m, f, max_len);
		c->depth--;
		if (rc != FLOW_OK)
			return rc;
		pj_pop(c, old);
	}
	return FLOW_OK;
}

int pbjson_check_strings(const ProtobufCMessage *msg, size_t max_len, char *err, size_t errlen)
{
	struct pj_ctx c = { .err = err, .errlen = errlen };

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (msg == NULL || msg->descriptor == NULL)
		return FLOW_OK;
	return pj_check_msg(&c, msg, max_len);
}
