/*
 * Unit tests of the postgresql and mysql scalers' parameters (scaleworker/scalers/postgresql.c,
 * mysql.c) and of their watcher-side specs (common/scaler_spec.c), with KEDA's own cases from
 * postgresql_scaler_test.go and mysql_scaler_test.go: valid and invalid metadata, where each
 * parameter may come from, the connection strings KEDA builds (its escaping, go-sql-driver's
 * DSN format and parsing), defaults, metric names, and messages that name the field and never
 * quote a credential. `<name>FromEnv` cases of KEDA's read the scale target's environment
 * (a resolved map here; its resolution is tested in test_worker_env.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/scaler_spec.h"
#include "scaleworker/scalers/sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    cJSON *md;
    sw_auth_params_t auth;
    sw_auth_param_t av[8];
    sw_auth_params_t env; /* the scale target's container environment */
    sw_auth_param_t ev[8];
    sw_pg_cfg_t pg;
    sw_mysql_cfg_t my;
    char err[512];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);

    f->md = cJSON_CreateObject();
    f->auth.v = f->av;
    f->env.v = f->ev;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_pg_cfg_free(&f->pg);
    sw_mysql_cfg_free(&f->my);
    cJSON_Delete(f->md);
    free(f);
    return 0;
}

static void md(fixture_t *f, const char *k, const char *v)
{
    cJSON_AddStringToObject(f->md, k, v);
}

static void auth(fixture_t *f, const char *k, const char *v)
{
    f->av[f->auth.n++] = (sw_auth_param_t){(char *)k, (char *)v};
}

static void env(fixture_t *f, const char *k, const char *v)
{
    f->ev[f->env.n++] = (sw_auth_param_t){(char *)k, (char *)v};
}

static sw_params_t params(fixture_t *f)
{
    return (sw_params_t){.metadata = f->md, .auth = f->auth.n ? &f->auth : NULL, .env = &f->env};
}

static int run_pg(fixture_t *f)
{
    sw_params_t p = params(f);

    sw_pg_cfg_free(&f->pg);
    f->err[0] = '\0';
    return sw_pg_cfg_parse(&p, &f->pg, f->err, sizeof f->err);
}

static int run_my(fixture_t *f)
{
    sw_params_t p = params(f);

    sw_mysql_cfg_free(&f->my);
    f->err[0] = '\0';
    return sw_mysql_cfg_parse(&p, &f->my, f->err, sizeof f->err);
}

static void expect(fixture_t *f, int r, const char *want)
{
    assert_int_equal(r, -EINVAL);
    if (!strstr(f->err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", f->err, want);
}

/* ---- postgresql ---------------------------------------------------------------------------- */

/* Proves KEDA's "Params from trigger authentication" case and that the connection string is
 * built in KEDA's order with KEDA's keys; activationTargetQueryValue defaults to 0. */
static void test_sw_pg_cfg_parse_params_from_authentication(void **state)
{
    fixture_t *f = *state;

    md(f, "query", "query");
    md(f, "targetQueryValue", "12");
    auth(f, "host", "test_host");
    auth(f, "port", "test_port");
    auth(f, "userName", "test_username");
    auth(f, "password", "POSTGRE_PASSWORD");
    auth(f, "dbName", "test_dbname");
    auth(f, "sslmode", "disable");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "host=test_host port=test_port user=test_username "
                                        "dbname=test_dbname sslmode=disable "
                                        "password=POSTGRE_PASSWORD");
    assert_false(f->pg.conninfo_given);
    assert_string_equal(f->pg.query, "query");
    assert_true(f->pg.target == 12);
    assert_true(f->pg.activation == 0);
}

/* Proves KEDA's TestPostgreSQLConnectionStringGeneration cases from authentication and from
 * metadata (an absent password is "password="; a host list passes through). */
static void test_sw_pg_cfg_parse_connection_strings(void **state)
{
    fixture_t *f = *state;

    md(f, "query", "test_query");
    md(f, "targetQueryValue", "5");
    auth(f, "connection", "test_connection_from_auth");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "test_connection_from_auth");
    assert_true(f->pg.conninfo_given);

    f->auth.n = 0;
    md(f, "host", "localhost");
    md(f, "port", "1234");
    md(f, "dbName", "testDb");
    md(f, "userName", "user");
    md(f, "sslmode", "required");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo,
                        "host=localhost port=1234 user=user dbname=testDb sslmode=required "
                        "password=");

    cJSON_ReplaceItemInObject(f->md, "host", cJSON_CreateString("host1,host2"));
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo,
                        "host=host1,host2 port=1234 user=user dbname=testDb sslmode=required "
                        "password=");
}

/* Proves the authentication wins over the metadata for host, port, userName, dbName and sslmode
 * (KEDA's order=authParams;triggerMetadata), and that `connection` and `password` are never
 * read from the metadata (KEDA's order=authParams;resolvedEnv). */
static void test_sw_pg_cfg_parse_sources(void **state)
{
    fixture_t *f = *state;

    md(f, "query", "q");
    md(f, "targetQueryValue", "5");
    md(f, "connection", "postgresql://username:password@localhost:5432");
    md(f, "password", "from-metadata");
    md(f, "host", "meta-host");
    md(f, "port", "1");
    md(f, "userName", "u");
    md(f, "dbName", "d");
    md(f, "sslmode", "disable");
    auth(f, "host", "auth-host");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo,
                        "host=auth-host port=1 user=u dbname=d sslmode=disable password=");
}

/* Proves KEDA's escapePostgreConnectionParameter cases and its whitespace test: a value can
 * never add a keyword to the connection string. */
static void test_sw_pg_escape_as_keda(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"simple", "simple"},
        {"with space", "'with space'"},
        {"user\tsslmode=disable", "'user\tsslmode=disable'"},
        {"user\nhost=attacker", "'user\nhost=attacker'"},
        {"user'name", "'user\\'name'"},
        {"user\\name", "'user\\\\name'"},
        {"user\\'name", "'user\\\\\\'name'"},
    };
    fixture_t *f = *state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = sw_pg_escape(cases[i].in, strlen(cases[i].in));
        assert_non_null(got);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
    md(f, "query", "test_query");
    md(f, "targetQueryValue", "5");
    md(f, "host", "db.example");
    md(f, "port", "5432");
    md(f, "dbName", "testdb");
    md(f, "userName", "user\tsslmode=disable");
    md(f, "sslmode", "require");
    auth(f, "password", "secret\nhost=attacker");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "host=db.example port=5432 user='user\tsslmode=disable' "
                                        "dbname=testdb sslmode=require "
                                        "password='secret\nhost=attacker'");
}

/* Proves KEDA's metadata errors, each naming its field: no metadata at all, a missing query,
 * a missing or zero targetQueryValue, numbers that Go's JSON reader refuses, and each of the
 * connection parameters required without `connection`. */
static void test_sw_pg_cfg_parse_errors(void **state)
{
    static const char *const required[] = {"host", "port", "userName", "dbName", "sslmode"};
    fixture_t *f = *state;

    expect(f, run_pg(f), "metadata.query: missing required parameter");
    md(f, "query", "q");
    auth(f, "connection", "host=h");
    expect(f, run_pg(f), "metadata.targetQueryValue: no targetQueryValue given");
    md(f, "targetQueryValue", "0");
    expect(f, run_pg(f), "metadata.targetQueryValue: no targetQueryValue given");
    cJSON_ReplaceItemInObject(f->md, "targetQueryValue", cJSON_CreateString("+5"));
    expect(f, run_pg(f), "metadata.targetQueryValue: \"+5\" is not a number");
    cJSON_ReplaceItemInObject(f->md, "targetQueryValue", cJSON_CreateString(".5"));
    expect(f, run_pg(f), "metadata.targetQueryValue: \".5\" is not a number");
    cJSON_ReplaceItemInObject(f->md, "targetQueryValue", cJSON_CreateString(" 1.5e3 "));
    md(f, "activationTargetQueryValue", "AA");
    expect(f, run_pg(f), "metadata.activationTargetQueryValue: \"AA\" is not a number");
    cJSON_ReplaceItemInObject(f->md, "activationTargetQueryValue", cJSON_CreateString("3"));
    assert_int_equal(run_pg(f), 0);
    assert_true(f->pg.target == 1500 && f->pg.activation == 3);

    f->auth.n = 0;
    for (size_t i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof want, "metadata.%s: no %s given", required[i], required[i]);
        expect(f, run_pg(f), want);
        md(f, required[i], "x");
    }
    assert_int_equal(run_pg(f), 0);
}

/* Proves KEDA's connectionFromEnv and passwordFromEnv cases: the variable they name is read
 * from the scale target's environment, authentication comes first, and a variable that is not
 * set or empty counts as absent (KEDA's typed config). */
static void test_sw_pg_cfg_parse_from_env(void **state)
{
    fixture_t *f = *state;

    md(f, "query", "query");
    md(f, "targetQueryValue", "12");
    md(f, "connectionFromEnv", "POSTGRE_CONN_STR");
    env(f, "POSTGRE_CONN_STR", " test_connection_string ");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "test_connection_string");
    assert_true(f->pg.conninfo_given);
    auth(f, "connection", "host=h");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "host=h");

    f->auth.n = 0;
    cJSON_DeleteItemFromObject(f->md, "connectionFromEnv");
    md(f, "host", "test_host");
    md(f, "port", "test_port");
    md(f, "userName", "test_username");
    md(f, "dbName", "test_dbname");
    md(f, "sslmode", "require");
    md(f, "passwordFromEnv", "POSTGRE_PASSWORD");
    assert_int_equal(run_pg(f), 0); /* not set: no password */
    assert_string_equal(f->pg.conninfo, "host=test_host port=test_port user=test_username "
                                        "dbname=test_dbname sslmode=require password=");
    env(f, "POSTGRE_PASSWORD", "pass word");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "host=test_host port=test_port user=test_username "
                                        "dbname=test_dbname sslmode=require password='pass word'");
}

/* Proves a connection string libpq cannot parse is a configuration error that names the
 * field and quotes nothing of it (it holds the password). */
static void test_sw_scaler_postgresql_parse_keeps_secrets_out(void **state)
{
    const sw_scaler_t *s = sw_scaler_find("postgresql");
    fixture_t *f = *state;
    sw_params_t p;
    void *st = NULL;

    assert_non_null(s);
    md(f, "query", "SELECT 1");
    md(f, "targetQueryValue", "5");
    auth(f, "connection", "host=db password='s3cret-pw-unterminated");
    p = params(f);
    assert_int_equal(s->parse(&p, &st, f->err, sizeof f->err), -EINVAL);
    assert_null(strstr(f->err, "s3cret"));
    assert_non_null(strstr(f->err, "authentication.connection"));
    f->av[0].value = "postgresql://u:s3cret@db:5432/x?sslmode=disable";
    assert_int_equal(s->parse(&p, &st, f->err, sizeof f->err), 0);
    s->close(st);
}

/* ---- mysql --------------------------------------------------------------------------------- */

/* Proves KEDA's "Params from trigger authentication" case and TestMetadataToConnectionStrBuildNew:
 * the DSN is go-sql-driver's "user:pw@tcp(host:port)/db" and reads back into its parts. */
static void test_sw_mysql_cfg_parse_params(void **state)
{
    fixture_t *f = *state;

    md(f, "query", "query");
    md(f, "queryValue", "12");
    auth(f, "host", "test_host");
    auth(f, "port", "test_port");
    auth(f, "username", "test_username");
    auth(f, "password", "MYSQL_PASSWORD");
    auth(f, "dbName", "test_dbname");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.dsn, "test_username:MYSQL_PASSWORD@tcp(test_host:test_port)/"
                                   "test_dbname");
    assert_string_equal(f->my.user, "test_username");
    assert_string_equal(f->my.password, "MYSQL_PASSWORD");
    assert_string_equal(f->my.net, "tcp");
    assert_string_equal(f->my.addr, "test_host:test_port");
    assert_string_equal(f->my.dbname, "test_dbname");
    assert_true(f->my.query_value == 12 && f->my.activation == 0);

    /* metadata wins for username, host, port, dbName; the password is authentication's only */
    f->auth.n = 0;
    md(f, "host", "test_host");
    md(f, "port", "test_port");
    md(f, "username", "test_username");
    md(f, "dbName", "test_dbname");
    md(f, "password", "ignored");
    auth(f, "password", "pass");
    auth(f, "username", "other");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.dsn, "test_username:pass@tcp(test_host:test_port)/test_dbname");
}

/* Proves a connectionString from authentication is used as given and read as go-sql-driver
 * reads it: KEDA's test DSN, a password holding '@' and ':', the default port and address,
 * a unix socket, and parameters. */
static void test_sw_mysql_cfg_parse_dsn(void **state)
{
    fixture_t *f = *state;

    md(f, "query", "q");
    md(f, "queryValue", "1");
    md(f, "host", "ignored-host");
    auth(f, "connectionString", "user@tcp(http://my.mysql.dev:3306)/stats_db");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.dsn, "user@tcp(http://my.mysql.dev:3306)/stats_db");
    assert_string_equal(f->my.user, "user");
    assert_string_equal(f->my.password, "");
    assert_string_equal(f->my.dbname, "stats_db");

    f->av[0].value = "u:p@s:s@tcp(db.example)/d%20b?parseTime=true&charset=utf8,latin1";
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.user, "u");
    assert_string_equal(f->my.password, "p@s:s");
    assert_string_equal(f->my.addr, "db.example:3306");
    assert_string_equal(f->my.dbname, "d b");
    assert_string_equal(f->my.charset, "utf8");

    f->av[0].value = "u:p@/d";
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.addr, "127.0.0.1:3306");
    f->av[0].value = "u@unix(/run/mysqld/mysqld.sock)/d";
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.net, "unix");
    assert_string_equal(f->my.addr, "/run/mysqld/mysqld.sock");
    f->av[0].value = "u@tcp(::1)/d";
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.addr, "[::1]:3306");
}

/* Proves DSN errors and unsupported parameters are configuration errors naming the field,
 * with nothing of the DSN quoted (it holds the password). */
static void test_sw_mysql_cfg_parse_dsn_errors(void **state)
{
    static const struct {
        const char *dsn, *want;
    } cases[] = {
        {"u:s3cretpw@tcp(h:1)", "missing the slash separating the database name"},
        {"u:s3cretpw@tcp(h:1/d", "network address not terminated"},
        {"u:s3cretpw@tcp(h:1)x/d", "did you forget to escape a param value?"},
        {"u:s3cretpw@tcp(h:1)/d?tls=true", "TLS connections to MySQL are not supported"},
        {"u:s3cretpw@tcp(h:1)/d?sql_mode=ANSI", "the DSN parameter sql_mode"},
        {"u:s3cretpw@pipe(x)/d", "network pipe is not supported"},
        {"u:s3cretpw@tcp(h:1)/d%zz", "bad %-escape"},
    };
    fixture_t *f = *state;

    md(f, "query", "q");
    md(f, "queryValue", "1");
    auth(f, "connectionString", "");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f->av[0].value = (char *)cases[i].dsn;
        expect(f, run_my(f), cases[i].want);
        assert_non_null(strstr(f->err, "authentication.connectionString"));
        assert_null(strstr(f->err, "s3cretpw"));
    }
}

/* Proves KEDA's invalid cases (no metadata; activationQueryValue "AA"; queryValue required)
 * and its *FromEnv cases read from the scale target's environment in KEDA's order. */
static void test_sw_mysql_cfg_parse_errors(void **state)
{
    fixture_t *f = *state;

    expect(f, run_my(f), "metadata.query: missing required parameter");
    md(f, "query", "query");
    expect(f, run_my(f), "metadata.queryValue: missing required parameter");
    md(f, "queryValue", "12");
    md(f, "activationQueryValue", "AA");
    auth(f, "host", "test_host");
    auth(f, "password", "MYSQL_PASSWORD");
    expect(f, run_my(f), "metadata.activationQueryValue: \"AA\" is not a number");
    cJSON_ReplaceItemInObject(f->md, "activationQueryValue", cJSON_CreateString("2.5"));
    assert_int_equal(run_my(f), 0);
    assert_true(f->my.activation == 2.5);

    f->auth.n = 0;
    md(f, "connectionStringFromEnv", "MYSQL_CONN_STR");
    env(f, "MYSQL_CONN_STR", "envuser:envpw@tcp(envhost:3307)/envdb");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.user, "envuser");
    assert_string_equal(f->my.password, "envpw");
    assert_string_equal(f->my.addr, "envhost:3307");
    cJSON_DeleteItemFromObject(f->md, "connectionStringFromEnv");
    md(f, "host", "h");
    md(f, "usernameFromEnv", "MYSQL_USERNAME");
    md(f, "passwordFromEnv", "MYSQL_PASSWORD");
    env(f, "MYSQL_USERNAME", "env-user");
    env(f, "MYSQL_PASSWORD", "env-pw");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.user, "env-user");
    assert_string_equal(f->my.password, "env-pw");
    md(f, "username", "meta-user"); /* username: metadata before the environment */
    auth(f, "password", "auth-pw"); /* password: authentication before the environment */
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.user, "meta-user");
    assert_string_equal(f->my.password, "auth-pw");
}

/* ---- the watcher's specs ------------------------------------------------------------------- */

static int spec(const char *type, uint32_t index, fixture_t *f, scaler_spec_t *s, errtext_t *e)
{
    memset(s, 0, sizeof *s);
    e->text[0] = '\0';
    return scaler_spec_build(type, index, f->md, s, e);
}

/* Proves KEDA's metric names (`s0-postgresql`, `s1-postgresql`; `s1-mysql-test_dbname`, the
 * dbName normalized) and that target and activation are the query values. */
static void test_scaler_spec_build_sql_metric_names(void **state)
{
    fixture_t *f = *state;
    scaler_spec_t s;
    errtext_t e;

    md(f, "query", "test_query");
    md(f, "targetQueryValue", "5");
    md(f, "activationTargetQueryValue", "3");
    assert_int_equal(spec("postgresql", 0, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s0-postgresql");
    assert_true(s.target == 5 && s.activation == 3);
    assert_int_equal(spec("postgresql", 1, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s1-postgresql");

    md(f, "queryValue", "12");
    md(f, "dbName", "test_dbname");
    assert_int_equal(spec("mysql", 1, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s1-mysql-test_dbname");
    assert_true(s.target == 12 && s.activation == 0);
    cJSON_ReplaceItemInObject(f->md, "dbName", cJSON_CreateString(" app.db:1 "));
    assert_int_equal(spec("mysql", 0, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s0-mysql-app-db-1");
    cJSON_DeleteItemFromObject(f->md, "dbName");
    assert_int_equal(spec("mysql", 2, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s2-mysql-");
}

/* Proves the watcher reports KEDA's metadata errors, naming the field. */
static void test_scaler_spec_build_sql_errors(void **state)
{
    fixture_t *f = *state;
    scaler_spec_t s;
    errtext_t e;

    assert_int_equal(spec("postgresql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.query: missing required parameter"));
    assert_int_equal(spec("mysql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.query: missing required parameter"));
    md(f, "query", "q");
    assert_int_equal(spec("postgresql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.targetQueryValue: no targetQueryValue given"));
    assert_int_equal(spec("mysql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.queryValue: missing required parameter"));
    md(f, "targetQueryValue", "1e400");
    assert_int_equal(spec("postgresql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.targetQueryValue: \"1e400\" is out of range"));
    md(f, "queryValue", "5");
    md(f, "activationQueryValue", "AA");
    assert_int_equal(spec("mysql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.activationQueryValue: \"AA\" is not a number"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sw_pg_cfg_parse_params_from_authentication, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sw_pg_cfg_parse_connection_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_pg_cfg_parse_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_pg_escape_as_keda, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_pg_cfg_parse_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_pg_cfg_parse_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_scaler_postgresql_parse_keeps_secrets_out, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sw_mysql_cfg_parse_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_mysql_cfg_parse_dsn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_mysql_cfg_parse_dsn_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_mysql_cfg_parse_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaler_spec_build_sql_metric_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaler_spec_build_sql_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
