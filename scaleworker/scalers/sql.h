/*
 * sql: private declarations of the postgresql and mysql scalers (postgresql.c, mysql.c, and
 * what both use, sql_common.c): their parameters, parsed exactly as KEDA's postgresql_scaler.go
 * and mysql_scaler.go read them, so the unit tests can check the parsing and the connection
 * strings KEDA would build. Runs in the postgresql and mysql workers.
 *
 * The connection strings and passwords held here are credentials: they live only in the
 * worker's memory, are wiped when freed and never enter an error text.
 */
#ifndef CKEDA_SCALEWORKER_SQL_H
#define CKEDA_SCALEWORKER_SQL_H

#include "scaleworker/scaler.h"

#include <stdbool.h>
#include <stddef.h>

#define SW_SQL_QUERY_MAX 65536 /* query, and each connection parameter */

/* ---- shared by both (sql_common.c) --------------------------------------------------------- */

/* A NUL-terminated copy of n bytes of s, or NULL. */
char *sw_sql_strndup(const char *s, size_t n);
/* sw_param_find of one name (`<name>FromEnv` reads the scale target's container environment),
 * with a value longer than SW_SQL_QUERY_MAX a configuration error (-EINVAL, "<source>.<name>:
 * longer than ..." in err, the name being "<name>FromEnv" for the environment). 1 found, 0
 * absent. */
int sw_sql_find(const sw_params_t *p, const char *name, const sw_src_t *order, sw_param_t *v,
                char *err, size_t errlen);
/* v as a float as Go's json.Unmarshal reads one; -EINVAL with "<source>.<name>: ..." in err. */
int sw_sql_number(const sw_param_t *v, double *ret, char *err, size_t errlen);
/* database/sql's Scan of the first column, named name, into a float64: v is its text (NULL: an
 * SQL NULL), type the driver.Value type an error names ("string", "[]uint8"). 0 with the value
 * in *ret, or -EINVAL with database/sql's error (or ckeda's, for NaN and infinities) in text. */
int sw_sql_scan_float(const char *name, const char *v, const char *type, double *ret, char *text,
                      size_t cap);

/* ---- postgresql ---------------------------------------------------------------------------- */

typedef struct sw_pg_cfg {
    char *conninfo; /* `connection`, else KEDA's "host=... port=... user=... dbname=... sslmode=...
                     * password=..." built from the parameters; a credential */
    bool conninfo_given; /* from `connection` (authentication) rather than built */
    char *query;
    double target;     /* targetQueryValue (the watcher's copy is in the table) */
    double activation; /* activationTargetQueryValue (0), likewise */
} sw_pg_cfg_t;

/* On failure writes "<source>.<field>: ..." into err and returns -EINVAL (or -ENOMEM); nothing
 * is left allocated then. */
int sw_pg_cfg_parse(const sw_params_t *params, sw_pg_cfg_t *ret, char *err, size_t errlen);
void sw_pg_cfg_free(sw_pg_cfg_t *c);
/* KEDA's escapePostgreConnectionParameter: quoted with \ and ' escaped when the value holds
 * white space, a quote or a backslash. Returns a new string or NULL. */
char *sw_pg_escape(const char *s, size_t len);

/* ---- mysql --------------------------------------------------------------------------------- */

typedef struct sw_mysql_cfg {
    char *dsn;      /* connectionString, else KEDA's go-sql-driver DSN built from the
                     * parameters ("user:pw@tcp(host:port)/db"); a credential */
    char *user;     /* the DSN, parsed as go-sql-driver's ParseDSN does */
    char *password; /* a credential */
    char *net;      /* "tcp" or "unix" */
    char *addr;     /* host:port (tcp; the port defaults to 3306) or the socket path (unix) */
    char *dbname;
    char *charset; /* the DSN's charset parameter (first of its list), NULL: utf8mb4 */
    char *query;
    double query_value; /* queryValue (the watcher's copy is in the table) */
    double activation;  /* activationQueryValue (0), likewise */
} sw_mysql_cfg_t;

int sw_mysql_cfg_parse(const sw_params_t *params, sw_mysql_cfg_t *ret, char *err, size_t errlen);
void sw_mysql_cfg_free(sw_mysql_cfg_t *c);

#endif
