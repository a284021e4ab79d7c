/*
 * credentials.c - the credentials file: secure load, atomic save, per-URL
 * entries. See credentials.h for the rules.
 */
#include "credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "status.h"

#define TMP_TRIES 16

struct cred_file {
	char *path;
	char *base;    /* file name inside the directory */
	int dirfd;     /* the directory; -1 when it does not exist (read-only) */
	bool locked;   /* for_update: dirfd holds the flock */
	json_t *doc;   /* the whole document */
	json_t *hosts; /* doc["servers"], borrowed */
};

static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void cred_entry_clear(struct cred_entry *e)
{
	if (e == NULL)
		return;
	free(e->url);
	free(e->username);
	free(e->role);
	wipe_free(e->access_token);
	wipe_free(e->refresh_token);
	memset(e, 0, sizeof(*e));
}

/* ---- where ---- */

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && h[0] == '/')
		return h;
	pw = getpwuid(getuid());
	return pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

int cred_path(char *buf, size_t len, char *err, size_t errlen)
{
	const char *p = getenv("FLOW_CREDENTIALS"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home;
	int n;

	if (p != NULL && p[0] != '\0')
		n = snprintf(buf, len, "%s", p);
	else if (xdg != NULL && xdg[0] == '/') /* XDG: a relative value is ignored */
		n = snprintf(buf, len, "%s/flowd/credentials.json", xdg);
	else if ((home = home_dir()) != NULL)
		n = snprintf(buf, len, "%s/.config/flowd/credentials.json", home);
	else
		return status_errf(
		    err, errlen, FLOW_FAILED_PRECONDITION,
		    "no home directory to keep credentials in: set FLOW_CREDENTIALS");
	if (n < 0 || (size_t)n >= len)
		return status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
				   "the credentials file path is too long");
	return FLOW_OK;
}

/* ---- the directory ---- */

/* mkdir -p with mode 0700 for the directories that are missing. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return status_errf(err, errlen, FLOW_FAILED_PRECONDITION, "bad directory \"%s\"",
				   dir);
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return status_errf(err, errlen, FLOW_INTERNAL,
					   "cannot create directory %s: %s", buf, strerror(errno));
		*p = c;
		if (c == '\0')
			return FLOW_OK;
	}
}

/* Splits f->path into its directory (opened as f->dirfd) and f->base. */
static int open_dir(struct cred_file *f, bool create, char *err, size_t errlen)
{
	char *slash = strrchr(f->path, '/');
	char dir[PATH_MAX];
	int rc;

	if (slash != NULL && (size_t)(slash - f->path) >= sizeof(dir))
		return status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
				   "the credentials file path is too long");
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == f->path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - f->path), f->path);
	f->base = strdup(slash ? slash + 1 : f->path);
	if (f->base == NULL)
		return status_errf(err, errlen, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if (f->base[0] == '\0')
		return status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
				   "credentials file %s: the path names a directory", f->path);
	if (create && (rc = make_dirs(dir, err, errlen)) != FLOW_OK)
		return rc;
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0 && errno == ENOENT && !create)
		return FLOW_OK; /* nothing saved yet */
	if (f->dirfd < 0)
		return status_errf(err, errlen, FLOW_INTERNAL, "cannot open directory %s: %s", dir,
				   strerror(errno));
	return FLOW_OK;
}

static int lock_dir(struct cred_file *f, char *err, size_t errlen)
{
	while (flock(f->dirfd, LOCK_EX) != 0) {
		if (errno != EINTR)
			return status_errf(err, errlen, FLOW_INTERNAL,
					   "cannot lock the directory of %s: %s", f->path,
					   strerror(errno));
	}
	f->locked = true;
	return FLOW_OK;
}

/* ---- reading ---- */

/* "group: read; others: read, write" for the group/other bits of mode. */
static void access_text(mode_t mode, char *buf, size_t len)
{
	static const char *const who[] = { "group", "others" };
	static const char *const what[] = { "read", "write", "execute" };
	size_t n = 0;

	buf[0] = '\0';
	for (int w = 0; w < 2; w++) {
		unsigned bits = (mode >> (w == 0 ? 3 : 0)) & 7;
		bool first = true;

		if (bits == 0)
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s: ", n ? "; " : "",
				      who[w]);
		for (int b = 0; b < 3; b++) {
			if (!(bits & (4u >> b)))
				continue;
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
					      first ? "" : ", ", what[b]);
			first = false;
		}
	}
}

/* The refusals: not a regular file, not ours, open to group or others. */
static int check_stat(const struct cred_file *f, const struct stat *st, char *err, size_t errlen)
{
	char who[96];

	if (!S_ISREG(st->st_mode))
		return status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
				   "credentials file %s is not a regular file", f->path);
	if (st->st_uid != geteuid())
		return status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
				   "credentials file %s is owned by uid %ld, not by you (uid %ld); "
				   "flowctl only uses credentials files you own: remove it, or "
				   "chown it to yourself and run chmod 600 %s",
				   f->path, (long)st->st_uid, (long)geteuid(), f->path);
	if ((st->st_mode & 077) != 0) {
		access_text(st->st_mode & 077, who, sizeof(who));
		return status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
				   "credentials file %s is accessible to other users (mode %04o; "
				   "%s); it holds login tokens, so flowctl refuses to use it: run "
				   "chmod 600 %s (and log in again if others may have read it)",
				   f->path, (unsigned)(st->st_mode & 07777), who, f->path);
	}
	return FLOW_OK;
}

/* Reads the whole open file into a NUL-terminated buffer (wipe after use). */
static int read_all(const struct cred_file *f, int fd, size_t size, char **out, char *err,
		    size_t errlen)
{
	char *buf = malloc(size + 1);
	size_t got = 0;
	ssize_t n;

	if (buf == NULL)
		return status_errf(err, errlen, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	while (got < size && (n = read(fd, buf + got, size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			explicit_bzero(buf, got);
			free(buf);
			return status_errf(err, errlen, FLOW_INTERNAL, "cannot read %s: %s",
					   f->path, strerror(errno));
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	return FLOW_OK;
}

static int open_file(const struct cred_file *f, int *fd, char *err, size_t errlen)
{
	*fd = openat(f->dirfd, f->base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (*fd >= 0)
		return FLOW_OK;
	if (errno == ENOENT)
		return FLOW_NOT_FOUND;
	if (errno == ELOOP || errno == EMLINK)
		return status_errf(
		    err, errlen, FLOW_FAILED_PRECONDITION,
		    "credentials file %s is a symbolic link; flowctl does not follow "
		    "links for credentials (whoever controls the target would get "
		    "your tokens): replace it with the file itself, or point "
		    "FLOW_CREDENTIALS at the real file",
		    f->path);
	return status_errf(err, errlen, FLOW_INTERNAL, "cannot open %s: %s", f->path,
			   strerror(errno));
}

/* The file's text, after the checks; *text NULL when there is no file. */
static int load_text(const struct cred_file *f, char **text, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	*text = NULL;
	if (f->dirfd < 0)
		return FLOW_OK;
	if ((rc = open_file(f, &fd, err, errlen)) != FLOW_OK)
		return rc == FLOW_NOT_FOUND ? FLOW_OK : rc;
	if (fstat(fd, &st) != 0)
		rc = status_errf(err, errlen, FLOW_INTERNAL, "cannot stat %s: %s", f->path,
				 strerror(errno));
	else
		rc = check_stat(f, &st, err, errlen);
	if (rc == FLOW_OK && (size_t)st.st_size > CRED_MAX_FILE)
		rc = status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
				 "credentials file %s is larger than %u bytes", f->path,
				 CRED_MAX_FILE);
	if (rc == FLOW_OK)
		rc = read_all(f, fd, (size_t)st.st_size, text, err, errlen);
	close(fd);
	if (rc == FLOW_OK)
		*len = strlen(*text);
	return rc;
}

static int bad_shape(const struct cred_file *f, char *err, size_t errlen, const char *what)
{
	return status_errf(err, errlen, FLOW_FAILED_PRECONDITION,
			   "credentials file %s: %s; fix it, or remove it and log in again",
			   f->path, what);
}

/* Checks one entry: the field types, and that both tokens are present. */
static int check_entry(const struct cred_file *f, const char *url, const json_t *e, char *err,
		       size_t errlen)
{
	static const char *const strs[] = { "url",	    "username",	     "role",
					    "access_token", "refresh_token", NULL };
	static const char *const nums[] = { "access_expires_at", "refresh_expires_at", NULL };
	char what[512];

	if (!json_is_object(e)) {
		snprintf(what, sizeof(what), "the login for %.200s is not an object", url);
		return bad_shape(f, err, errlen, what);
	}
	for (int i = 0; strs[i] != NULL; i++) {
		const json_t *v = json_object_get(e, strs[i]);
		bool need =
		    strcmp(strs[i], "access_token") == 0 || strcmp(strs[i], "refresh_token") == 0;

		if ((v == NULL && !need) || json_is_string(v))
			continue;
		snprintf(what, sizeof(what), "%s of the login for %.200s is %s", strs[i], url,
			 v == NULL ? "missing" : "not a string");
		return bad_shape(f, err, errlen, what);
	}
	for (int i = 0; nums[i] != NULL; i++) {
		const json_t *v = json_object_get(e, nums[i]);

		if (v == NULL || json_is_integer(v))
			continue;
		snprintf(what, sizeof(what), "%s of the login for %.200s is not an integer",
			 nums[i], url);
		return bad_shape(f, err, errlen, what);
	}
	return FLOW_OK;
}

/* Checks the document's shape: {"version": 1, "servers": {URL: entry}}. */
static int check_doc(struct cred_file *f, char *err, size_t errlen)
{
	json_t *ver = json_object_get(f->doc, "version");
	const char *url;
	json_t *e;
	int rc;

	if (!json_is_object(f->doc))
		return bad_shape(f, err, errlen, "the top level is not a JSON object");
	if (ver != NULL && !json_is_integer(ver))
		return bad_shape(f, err, errlen, "version is not an integer");
	if (ver != NULL && json_integer_value(ver) > CRED_VERSION)
		return bad_shape(f, err, errlen,
				 "it was written by a newer flowctl (version "
				 "above 1)");
	f->hosts = json_object_get(f->doc, "servers");
	if (f->hosts == NULL) {
		f->hosts = json_object();
		if (f->hosts == NULL || json_object_set_new(f->doc, "servers", f->hosts) != 0)
			return status_errf(err, errlen, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	if (!json_is_object(f->hosts))
		return bad_shape(f, err, errlen, "servers is not an object");
	json_object_foreach (f->hosts, url, e) {
		if ((rc = check_entry(f, url, e, err, errlen)) != FLOW_OK)
			return rc;
	}
	return FLOW_OK;
}

static int parse_doc(struct cred_file *f, const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t je;

	if (text == NULL) {
		f->doc = json_pack("{s:i, s:{}}", "version", CRED_VERSION, "servers");
		if (f->doc == NULL)
			return status_errf(err, errlen, FLOW_RESOURCE_EXHAUSTED, "out of memory");
		return check_doc(f, err, errlen);
	}
	f->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	/* je.text may quote the file's content (a token): line and column only */
	if (f->doc == NULL)
		return status_errf(
		    err, errlen, FLOW_FAILED_PRECONDITION,
		    "credentials file %s is not valid JSON (line %d, column %d); fix it, "
		    "or remove it and log in again",
		    f->path, je.line, je.column);
	return check_doc(f, err, errlen);
}

int cred_open(const char *path, bool for_update, cred_file **out, char *err, size_t errlen)
{
	struct cred_file *f = calloc(1, sizeof(*f));
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (f == NULL)
		return status_errf(err, errlen, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	f->dirfd = -1;
	f->path = strdup(path);
	rc = f->path ? open_dir(f, for_update, err, errlen)
		     : status_errf(err, errlen, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if (rc == FLOW_OK && for_update)
		rc = lock_dir(f, err, errlen);
	if (rc == FLOW_OK)
		rc = load_text(f, &text, &len, err, errlen);
	if (rc == FLOW_OK)
		rc = parse_doc(f, text, len, err, errlen);
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	if (rc != FLOW_OK) {
		cred_close(f);
		return rc;
	}
	*out = f;
	return FLOW_OK;
}

/* Overwrites every string value in j (tokens) before it is freed. */
static void wipe_json(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		explicit_bzero((char *)json_string_value(j), json_string_length(j));
	} else if (json_is_object(j)) {
		json_object_foreach (j, key, v)
			wipe_json(v);
	} else if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			wipe_json(v);
	}
}

void cred_close(cred_file *f)
{
	if (f == NULL)
		return;
	wipe_json(f->doc);
	json_decref(f->doc);
	if (f->dirfd >= 0)
		close(f->dirfd); /* releases the flock */
	free(f->path);
	free(f->base);
	free(f);
}

const char *cred_file_path(const cred_file *f)
{
	return f->path;
}

size_t cred_count(const cred_file *f)
{
	return json_object_size(f->hosts);
}

/* ---- entries ---- */

static int dup_field(const json_t *e, const char *key, char **out)
{
	const char *s = json_string_value(json_object_get(e, key));

	*out = NULL;
	if (s == NULL)
		return FLOW_OK;
	*out = strdup(s);
	return *out ? FLOW_OK : FLOW_RESOURCE_EXHAUSTED;
}

int cred_get(const cred_file *f, const char *url, struct cred_entry *out)
{
	const json_t *e = json_object_get(f->hosts, url);
	int rc = FLOW_OK;

	memset(out, 0, sizeof(*out));
	if (e == NULL)
		return FLOW_NOT_FOUND;
	out->url = strdup(url);
	if (out->url == NULL)
		rc = FLOW_RESOURCE_EXHAUSTED;
	if (rc == FLOW_OK)
		rc = dup_field(e, "username", &out->username);
	if (rc == FLOW_OK)
		rc = dup_field(e, "role", &out->role);
	if (rc == FLOW_OK)
		rc = dup_field(e, "access_token", &out->access_token);
	if (rc == FLOW_OK)
		rc = dup_field(e, "refresh_token", &out->refresh_token);
	out->access_expires_at = json_integer_value(json_object_get(e, "access_expires_at"));
	out->refresh_expires_at = json_integer_value(json_object_get(e, "refresh_expires_at"));
	if (rc != FLOW_OK)
		cred_entry_clear(out);
	return rc;
}

int cred_put(cred_file *f, const struct cred_entry *e)
{
	json_t *j;

	if (e->url == NULL || e->url[0] == '\0' || e->access_token == NULL ||
	    e->refresh_token == NULL)
		return FLOW_INVALID_ARGUMENT;
	j = json_pack("{s:s, s:s*, s:s*, s:s, s:I, s:s, s:I}", "url", e->url, "username",
		      e->username, "role", e->role, "access_token", e->access_token,
		      "access_expires_at", (json_int_t)e->access_expires_at, "refresh_token",
		      e->refresh_token, "refresh_expires_at", (json_int_t)e->refresh_expires_at);
	if (j == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	/* the entry replaced is wiped before it goes */
	wipe_json(json_object_get(f->hosts, e->url));
	if (json_object_set_new(f->hosts, e->url, j) != 0)
		return FLOW_RESOURCE_EXHAUSTED;
	return FLOW_OK;
}

int cred_remove(cred_file *f, const char *url)
{
	json_t *e = json_object_get(f->hosts, url);

	if (e == NULL)
		return FLOW_NOT_FOUND;
	wipe_json(e);
	json_object_del(f->hosts, url);
	return FLOW_OK;
}

/* ---- writing ---- */

/* Creates a new temporary file next to the credentials file, mode 0600. */
static int create_tmp(const struct cred_file *f, char *name, size_t len, int *fd, char *err,
		      size_t errlen)
{
	uint32_t r;

	for (int i = 0; i < TMP_TRIES; i++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)getpid() * 2654435761u + (uint32_t)i;
		snprintf(name, len, ".%s.tmp-%08x", f->base, r);
		*fd = openat(f->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			     0600);
		if (*fd >= 0) {
			/* exactly 0600, whatever the umask */
			if (fchmod(*fd, 0600) == 0)
				return FLOW_OK;
			close(*fd);
			unlinkat(f->dirfd, name, 0);
			return status_errf(err, errlen, FLOW_INTERNAL,
					   "cannot set the mode of a new "
					   "credentials file next to %s: %s",
					   f->path, strerror(errno));
		}
		if (errno != EEXIST)
			break;
	}
	return status_errf(err, errlen, FLOW_INTERNAL,
			   "cannot create a new credentials file next to %s: %s", f->path,
			   strerror(errno));
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes text to a new file, fsyncs it and renames it over the old one. */
static int replace_file(const struct cred_file *f, const char *text, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if ((rc = create_tmp(f, tmp, sizeof(tmp), &fd, err, errlen)) != FLOW_OK)
		return rc;
	if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0 ||
	    fsync(fd) != 0) {
		rc = status_errf(err, errlen, FLOW_INTERNAL, "cannot write %s: %s", f->path,
				 strerror(errno));
		close(fd);
		unlinkat(f->dirfd, tmp, 0);
		return rc;
	}
	if (close(fd) != 0 || renameat(f->dirfd, tmp, f->dirfd, f->base) != 0) {
		rc = status_errf(err, errlen, FLOW_INTERNAL, "cannot replace %s: %s", f->path,
				 strerror(errno));
		unlinkat(f->dirfd, tmp, 0);
		return rc;
	}
	fsync(f->dirfd); /* the rename itself; a failure here loses nothing yet */
	return FLOW_OK;
}

int cred_save(cred_file *f, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	if (!f->locked)
		return status_errf(err, errlen, FLOW_INTERNAL, "%s was opened read-only", f->path);
	if (json_object_set_new(f->doc, "version", json_integer(CRED_VERSION)) != 0)
		return status_errf(err, errlen, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	text = json_dumps(f->doc, JSON_INDENT(2));
	if (text == NULL)
		return status_errf(err, errlen, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	len = strlen(text);
	rc = replace_file(f, text, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return rc;
}
