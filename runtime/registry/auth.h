/*
 * auth.h - accounts, roles, API keys, model access, the audit log and the
 * call meters, in the registry (Redis). docs/security.md is the model;
 * docs/registry.md lists the keys.
 *
 * These are the operations every front end calls: the `cubeserve`
 * command and the console's JSON API. Role checks live here
 * (cs_auth_allow), not in argument parsing.
 *
 * Secrets: a password is kept only as a libsodium crypto_pwhash string
 * (Argon2id); an API key only as a keyed BLAKE2b hash (crypto_generichash
 * keyed with the registry's pepper). No function here logs, prints or puts
 * a secret or a hash into errstr. Every function takes a cs_registry (one
 * connection, not thread-safe: one thread at a time per handle) and leaves
 * its failure in r->err / r->errstr; sodium_init() is called as needed.
 */
#ifndef CS_AUTH_H
#define CS_AUTH_H

#include <stddef.h>

#include <jansson.h>

#include "registry/registry.h"

/* Outcomes beyond cs_status and CS_REG_* (never renumbered). */
enum {
	CS_AUTH_DENIED = -110,    /* no, unknown, revoked or expired credential, wrong password: 401 */
	CS_AUTH_FORBIDDEN = -111, /* the principal may not do that: 403 */
	CS_AUTH_LOCKED = -112     /* too many wrong passwords: try later (429) */
};

typedef enum cs_role {
	CS_ROLE_NONE = 0,
	CS_ROLE_CONSUMER = 1, /* calls the models its keys grant */
	CS_ROLE_OPERATOR = 2, /* deploys, scales, switches any deployment */
	CS_ROLE_OWNER = 3,    /* publishes and manages its own models */
	CS_ROLE_ADMIN = 4     /* everything, users included */
} cs_role;

/* "admin", "owner", "operator", "consumer" ("none" for CS_ROLE_NONE). */
const char *cs_role_name(cs_role role);

/* Parses a role name. CS_OK, or CS_EINVAL for anything else. */
int cs_role_parse(const char *s, cs_role *out);

/* Who is acting: a logged-in user or the owner of an API key. */
typedef struct cs_principal {
	char user[65];
	cs_role role;
	char key_id[32]; /* the key or session used ("" for none) */
} cs_principal;

/* Limits on names: users [a-z0-9_.-]{1,64}, passwords 1..1024 bytes. */
#define CS_AUTH_PASSWORD_MAX 1024
/* The longest key the gateway and cs_auth_key_verify look at. */
#define CS_AUTH_KEY_MAX 128
/* Buffer sizes for a new key and its id. */
#define CS_AUTH_KEY_SIZE 96
#define CS_AUTH_ID_SIZE 32
/* Wrong passwords in a row before the account is locked for a while. */
#define CS_AUTH_FREE_FAILURES 5
/* The first lock; it doubles with every further failure, up to the longest. */
#define CS_AUTH_FIRST_LOCK_SECONDS 15
#define CS_AUTH_MAX_LOCK_SECONDS 900

/* Whether name is a valid user name. */
int cs_auth_user_name_ok(const char *name);

/* ------------------------------------------------------------ mode */

/*
 * The stack's mode: *on = 1 when the registry's config says auth=on.
 * Absent means off. CS_OK or a connection failure.
 */
int cs_auth_mode(cs_registry *r, int *on);

/* Records the mode (config field "auth"). */
int cs_auth_set_mode(cs_registry *r, int on);

/* ------------------------------------------------------------ users */

/*
 * Adds a user with a password (hashed here with crypto_pwhash_str,
 * Argon2id, interactive limits; the password is not kept). CS_REG_EXISTS
 * when the name is taken; CS_EINVAL for a bad name or an empty or
 * over-long password.
 */
int cs_auth_user_add(cs_registry *r, const char *name, cs_role role,
		     const char *password, size_t pwlen);

/* Removes a user and revokes all its keys and sessions. CS_ENOTFOUND. */
int cs_auth_user_remove(cs_registry *r, const char *name);

/* Sets a new password and clears the wrong-password lock. CS_ENOTFOUND. */
int cs_auth_user_passwd(cs_registry *r, const char *name,
			const char *password, size_t pwlen);

/* Changes a user's role. CS_ENOTFOUND. */
int cs_auth_user_role(cs_registry *r, const char *name, cs_role role);

/*
 * Every user as a new JSON array of {name, role, created, keys, failures,
 * locked_until}, sorted by name; never a hash.
 */
int cs_auth_users(cs_registry *r, json_t **out);

/* How many users there are (0: a registry nobody has set up). */
int cs_auth_user_count(cs_registry *r, long long *n);

/*
 * Checks a user's password, in constant time against the stored hash
 * (crypto_pwhash_str_verify). After CS_AUTH_FREE_FAILURES wrong passwords
 * in a row the account is locked for CS_AUTH_FIRST_LOCK_SECONDS *
 * 2^(failures - free) seconds (at most
 * CS_AUTH_MAX_LOCK_SECONDS): while locked every attempt, right or wrong,
 * is CS_AUTH_LOCKED without the hash being computed, and errstr says until
 * when. A right password clears the count. CS_AUTH_DENIED for a wrong
 * password or an unknown user (the same message for both). On CS_OK *who
 * (may be NULL) is the user.
 */
int cs_auth_password_check(cs_registry *r, const char *name,
			   const char *password, size_t pwlen,
			   cs_principal *who);

/*
 * cs_auth_password_check, then a new session: a key of kind "session"
 * for the user, granting no model, expiring in ttl_s seconds (<= 0: 30
 * days). The token (a key, CS_AUTH_KEY_SIZE bytes) goes into token; the
 * caller stores it (mode 0600) and never prints it.
 */
int cs_auth_login(cs_registry *r, const char *name, const char *password,
		  size_t pwlen, long long ttl_s, char *token, size_t toklen,
		  cs_principal *who);

/* ------------------------------------------------------------ keys */

typedef struct cs_key_spec {
	const char *user;     /* the key's owner (must exist) */
	const char *models;   /* "m1,m2", or "*" for every model; NULL: none */
	double rate;          /* requests per second; 0: no limit */
	long long quota;      /* calls per UTC day; 0: no limit */
	long long expires;    /* Unix seconds; 0: never */
	const char *kind;     /* "api" (default) or "session" */
	const char *creator;  /* who made it (for owners' key lists); NULL: user */
} cs_key_spec;

/*
 * Creates a key: "csk_" + 12 hex id + "_" + 43 characters of a 32-byte
 * random secret (randombytes_buf, base64url). Stores only its keyed hash,
 * its id, its prefix ("csk_<id>"), the grants and limits. On CS_OK key
 * (CS_AUTH_KEY_SIZE) holds the key, to be shown once, and id
 * (CS_AUTH_ID_SIZE, may be NULL) its id. CS_ENOTFOUND: no such user;
 * CS_EINVAL: a bad model list or limit.
 */
int cs_auth_key_create(cs_registry *r, const cs_key_spec *spec, char *key,
		       size_t keylen, char *id, size_t idlen);

/*
 * Revokes a key by id (it stays listed as revoked; the gateways drop it
 * at their next refresh, about a second). CS_ENOTFOUND.
 */
int cs_auth_key_revoke(cs_registry *r, const char *id);

/*
 * The keys as a new array of {id, prefix, user, kind, models, rate, quota,
 * expires, created, revoked, creator}, newest first. user (NULL: all)
 * keeps the keys of that user or made by them. Sessions are left out
 * unless sessions.
 */
int cs_auth_keys(cs_registry *r, const char *user, int sessions,
		 json_t **out);

/*
 * One key's record (as in cs_auth_keys) plus "calls": an array of the
 * last days (newest first) of {day: "YYYY-MM-DD", model, ok, error}.
 * CS_ENOTFOUND.
 */
int cs_auth_key_show(cs_registry *r, const char *id, int days,
		     json_t **out);

/*
 * Identifies a key (a management token or an API key): checks its form
 * (at most CS_AUTH_KEY_MAX bytes of [A-Za-z0-9_-]), looks it up by its
 * keyed hash (never by comparing a stored key's prefix), and refuses a
 * revoked or expired key or one whose user is gone: CS_AUTH_DENIED with a
 * message that names what is wrong and never the key. On CS_OK *who is its
 * user with the user's role, and key_id.
 */
int cs_auth_key_verify(cs_registry *r, const char *key, cs_principal *who);

/*
 * The registry's 32-byte pepper, created (randomly, once, atomically) on
 * first use. Every gateway and CLI keys its hash with it.
 */
int cs_auth_pepper(cs_registry *r, unsigned char pepper[32]);

/*
 * The stored form of a key: BLAKE2b-256 keyed with pepper, as 64 hex
 * characters into hex (>= 65 bytes). Pure; thread-safe.
 */
void cs_auth_key_hash(const unsigned char pepper[32], const char *key,
		      size_t len, char *hex);

/* ------------------------------------------------------------ models */

/*
 * A model's access: *is_public (1 public, 0 private) and its managing
 * owner (owner, may be NULL; "" when none). A model without a record is
 * private when auth is on (cs_auth_mode) and public when it is off.
 */
int cs_auth_access(cs_registry *r, const char *model, int *is_public,
		   char *owner, size_t ownerlen);

/* Sets a model's access. */
int cs_auth_access_set(cs_registry *r, const char *model, int is_public);

/* Records the model's managing owner when it has none yet (publish). */
int cs_auth_owner_claim(cs_registry *r, const char *model,
			const char *user);

/* ------------------------------------------------------------ roles */

/*
 * Whether who may do action on model (model NULL or "" for actions on no
 * model). Actions and who may:
 *   "model.publish"  admin; owner (a new model, or one it owns)
 *   "model.manage"   admin; the model's owner (remove, set-default, access)
 *   "deploy"         admin, operator; the model's owner
 *   "key.create"     admin (any grant); owner (grants on models it owns)
 *   "key.manage"     admin; owner (keys it made); sessions: their user
 *   "user.manage"    admin
 *   "audit.read"     admin, operator
 *   "vote"           any logged-in user (rate, favourite)
 * CS_OK, or CS_AUTH_FORBIDDEN with errstr naming the role that is missing;
 * CS_EINVAL for an unknown action. For "key.create" model is the grant
 * list ("a,b" or "*").
 */
int cs_auth_allow(cs_registry *r, const cs_principal *who,
		  const char *action, const char *model);

/* ------------------------------------------------------------ audit */

/*
 * Appends one entry {time (ms), who, what, target, result} to the audit
 * log (the newest 10000 are kept). The strings must not hold secrets.
 */
int cs_auth_audit(cs_registry *r, const char *who, const char *what,
		  const char *target, const char *result);

/* The newest n entries (newest first) as a new array. */
int cs_auth_audit_list(cs_registry *r, long n, json_t **out);

/* ------------------------------------------------------------ meters */

/*
 * Adds calls to a key's meter for model and UTC day (YYYYMMDD): ok and
 * err (status >= 400) counts, per key and per model. Used by the
 * gateways' flush.
 */
int cs_auth_meter_add(cs_registry *r, const char *key_id, const char *model,
		      int day, long long ok, long long err);

/*
 * Adds n calls to a key's quota counter of day and returns the day's new
 * total over every gateway (*total).
 */
int cs_auth_quota_add(cs_registry *r, const char *key_id, int day,
		      long long n, long long *total);

/*
 * A model's calls of day per key, as a new object {key_id: {ok, error}}.
 */
int cs_auth_meter_model(cs_registry *r, const char *model, int day,
			json_t **out);

/* Today's UTC day as YYYYMMDD. */
int cs_auth_today(void);

/*
 * What a gateway of model needs, as a new object: {auth: bool, public:
 * bool, pepper: hex, day, keys: [{id, hash, user, granted: bool, rate,
 * quota, expires, used_today}]} with every API key not revoked (sessions
 * left out). With auth off: no keys, and a zero pepper (nothing is checked).
 */
int cs_auth_snapshot(cs_registry *r, const char *model, json_t **out);

#endif
