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

#include "sw_fixture.h"

#include "common/scaler_spec.h"
#include "scaleworker/scalers/sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    sw_fx_t fx; /* first: the trigger's parameters (sw_fx_setup) */
    sw_pg_cfg_t pg;
    sw_mysql_cfg_t my;
} fixture_t;

static int setup(void **state)
{
    return sw_fx_setup(state, sizeof(fixture_t));
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_pg_cfg_free(&f->pg);
    sw_mysql_cfg_free(&f->my);
    return sw_fx_teardown(state);
}

static int run_pg(fixture_t *f)
{
    sw_params_t p = sw_fx_params(&f->fx);

    sw_pg_cfg_free(&f->pg);
    f->fx.err[0] = '\0';
    return sw_pg_cfg_parse(&p, &f->pg, f->fx.err, sizeof f->fx.err);
}

static int run_my(fixture_t *f)
{
    sw_params_t p = sw_fx_params(&f->fx);

    sw_mysql_cfg_free(&f->my);
    f->fx.err[0] = '\0';
    return sw_mysql_cfg_parse(&p, &f->my, f->fx.err, sizeof f->fx.err);
}

static void expect(fixture_t *f, int r, const char *want)
{
    sw_fx_expect_error(r, f->fx.err, want);
}

/* ---- postgresql ---------------------------------------------------------------------------- */

/* Proves KEDA's "Params from trigger authentication" case and that the connection string is
 * built in KEDA's order with KEDA's keys; activationTargetQueryValue defaults to 0. */
static void test_sw_pg_cfg_parse_params_from_authentication(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "query", "query");
    sw_fx_md(&f->fx, "targetQueryValue", "12");
    sw_fx_auth(&f->fx, "host", "test_host");
    sw_fx_auth(&f->fx, "port", "test_port");
    sw_fx_auth(&f->fx, "userName", "test_username");
    sw_fx_auth(&f->fx, "password", "POSTGRE_PASSWORD");
    sw_fx_auth(&f->fx, "dbName", "test_dbname");
    sw_fx_auth(&f->fx, "sslmode", "disable");
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

    sw_fx_md(&f->fx, "query", "test_query");
    sw_fx_md(&f->fx, "targetQueryValue", "5");
    sw_fx_auth(&f->fx, "connection", "test_connection_from_auth");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "test_connection_from_auth");
    assert_true(f->pg.conninfo_given);

    sw_fx_auth_clear(&f->fx);
    sw_fx_md(&f->fx, "host", "localhost");
    sw_fx_md(&f->fx, "port", "1234");
    sw_fx_md(&f->fx, "dbName", "testDb");
    sw_fx_md(&f->fx, "userName", "user");
    sw_fx_md(&f->fx, "sslmode", "required");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo,
                        "host=localhost port=1234 user=user dbname=testDb sslmode=required "
                        "password=");

    sw_fx_md(&f->fx, "host", "host1,host2");
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

    sw_fx_md(&f->fx, "query", "q");
    sw_fx_md(&f->fx, "targetQueryValue", "5");
    sw_fx_md(&f->fx, "connection", "postgresql://username:password@localhost:5432");
    sw_fx_md(&f->fx, "password", "from-metadata");
    sw_fx_md(&f->fx, "host", "meta-host");
    sw_fx_md(&f->fx, "port", "1");
    sw_fx_md(&f->fx, "userName", "u");
    sw_fx_md(&f->fx, "dbName", "d");
    sw_fx_md(&f->fx, "sslmode", "disable");
    sw_fx_auth(&f->fx, "host", "auth-host");
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
    sw_fx_md(&f->fx, "query", "test_query");
    sw_fx_md(&f->fx, "targetQueryValue", "5");
    sw_fx_md(&f->fx, "host", "db.example");
    sw_fx_md(&f->fx, "port", "5432");
    sw_fx_md(&f->fx, "dbName", "testdb");
    sw_fx_md(&f->fx, "userName", "user\tsslmode=disable");
    sw_fx_md(&f->fx, "sslmode", "require");
    sw_fx_auth(&f->fx, "password", "secret\nhost=attacker");
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
    sw_fx_md(&f->fx, "query", "q");
    sw_fx_auth(&f->fx, "connection", "host=h");
    expect(f, run_pg(f), "metadata.targetQueryValue: no targetQueryValue given");
    sw_fx_md(&f->fx, "targetQueryValue", "0");
    expect(f, run_pg(f), "metadata.targetQueryValue: no targetQueryValue given");
    sw_fx_md(&f->fx, "targetQueryValue", "+5");
    expect(f, run_pg(f), "metadata.targetQueryValue: \"+5\" is not a number");
    sw_fx_md(&f->fx, "targetQueryValue", ".5");
    expect(f, run_pg(f), "metadata.targetQueryValue: \".5\" is not a number");
    sw_fx_md(&f->fx, "targetQueryValue", " 1.5e3 ");
    sw_fx_md(&f->fx, "activationTargetQueryValue", "AA");
    expect(f, run_pg(f), "metadata.activationTargetQueryValue: \"AA\" is not a number");
    sw_fx_md(&f->fx, "activationTargetQueryValue", "3");
    assert_int_equal(run_pg(f), 0);
    assert_true(f->pg.target == 1500 && f->pg.activation == 3);

    sw_fx_auth_clear(&f->fx);
    for (size_t i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof want, "metadata.%s: no %s given", required[i], required[i]);
        expect(f, run_pg(f), want);
        sw_fx_md(&f->fx, required[i], "x");
    }
    assert_int_equal(run_pg(f), 0);
}

/* Proves KEDA's connectionFromEnv and passwordFromEnv cases: the variable they name is read
 * from the scale target's environment, authentication comes first, and a variable that is not
 * set or empty counts as absent (KEDA's typed config). */
static void test_sw_pg_cfg_parse_from_env(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "query", "query");
    sw_fx_md(&f->fx, "targetQueryValue", "12");
    sw_fx_md(&f->fx, "connectionFromEnv", "POSTGRE_CONN_STR");
    sw_fx_env(&f->fx, "POSTGRE_CONN_STR", " test_connection_string ");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "test_connection_string");
    assert_true(f->pg.conninfo_given);
    sw_fx_auth(&f->fx, "connection", "host=h");
    assert_int_equal(run_pg(f), 0);
    assert_string_equal(f->pg.conninfo, "host=h");

    sw_fx_auth_clear(&f->fx);
    sw_fx_md(&f->fx, "connectionFromEnv", NULL);
    sw_fx_md(&f->fx, "host", "test_host");
    sw_fx_md(&f->fx, "port", "test_port");
    sw_fx_md(&f->fx, "userName", "test_username");
    sw_fx_md(&f->fx, "dbName", "test_dbname");
    sw_fx_md(&f->fx, "sslmode", "require");
    sw_fx_md(&f->fx, "passwordFromEnv", "POSTGRE_PASSWORD");
    assert_int_equal(run_pg(f), 0); /* not set: no password */
    assert_string_equal(f->pg.conninfo, "host=test_host port=test_port user=test_username "
                                        "dbname=test_dbname sslmode=require password=");
    sw_fx_env(&f->fx, "POSTGRE_PASSWORD", "pass word");
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
    sw_fx_md(&f->fx, "query", "SELECT 1");
    sw_fx_md(&f->fx, "targetQueryValue", "5");
    sw_fx_auth(&f->fx, "connection", "host=db password='s3cret-pw-unterminated");
    p = sw_fx_params(&f->fx);
    assert_int_equal(s->parse(&p, &st, f->fx.err, sizeof f->fx.err), -EINVAL);
    assert_null(strstr(f->fx.err, "s3cret"));
    assert_non_null(strstr(f->fx.err, "authentication.connection"));
    f->fx.av[0].value = "postgresql://u:s3cret@db:5432/x?sslmode=disable";
    assert_int_equal(s->parse(&p, &st, f->fx.err, sizeof f->fx.err), 0);
    s->close(st);
}

/* ---- mysql --------------------------------------------------------------------------------- */

/* Proves KEDA's "Params from trigger authentication" case and TestMetadataToConnectionStrBuildNew:
 * the DSN is go-sql-driver's "user:pw@tcp(host:port)/db" and reads back into its parts. */
static void test_sw_mysql_cfg_parse_params(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "query", "query");
    sw_fx_md(&f->fx, "queryValue", "12");
    sw_fx_auth(&f->fx, "host", "test_host");
    sw_fx_auth(&f->fx, "port", "test_port");
    sw_fx_auth(&f->fx, "username", "test_username");
    sw_fx_auth(&f->fx, "password", "MYSQL_PASSWORD");
    sw_fx_auth(&f->fx, "dbName", "test_dbname");
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
    sw_fx_auth_clear(&f->fx);
    sw_fx_md(&f->fx, "host", "test_host");
    sw_fx_md(&f->fx, "port", "test_port");
    sw_fx_md(&f->fx, "username", "test_username");
    sw_fx_md(&f->fx, "dbName", "test_dbname");
    sw_fx_md(&f->fx, "password", "ignored");
    sw_fx_auth(&f->fx, "password", "pass");
    sw_fx_auth(&f->fx, "username", "other");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.dsn, "test_username:pass@tcp(test_host:test_port)/test_dbname");
}

/* Proves a connectionString from authentication is used as given and read as go-sql-driver
 * reads it: KEDA's test DSN, a password holding '@' and ':', the default port and address,
 * a unix socket, and parameters. */
static void test_sw_mysql_cfg_parse_dsn(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "query", "q");
    sw_fx_md(&f->fx, "queryValue", "1");
    sw_fx_md(&f->fx, "host", "ignored-host");
    sw_fx_auth(&f->fx, "connectionString", "user@tcp(http://my.mysql.dev:3306)/stats_db");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.dsn, "user@tcp(http://my.mysql.dev:3306)/stats_db");
    assert_string_equal(f->my.user, "user");
    assert_string_equal(f->my.password, "");
    assert_string_equal(f->my.dbname, "stats_db");

    f->fx.av[0].value = "u:p@s:s@tcp(db.example)/d%20b?parseTime=true&charset=utf8,latin1";
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.user, "u");
    assert_string_equal(f->my.password, "p@s:s");
    assert_string_equal(f->my.addr, "db.example:3306");
    assert_string_equal(f->my.dbname, "d b");
    assert_string_equal(f->my.charset, "utf8");

    f->fx.av[0].value = "u:p@/d";
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.addr, "127.0.0.1:3306");
    f->fx.av[0].value = "u@unix(/run/mysqld/mysqld.sock)/d";
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.net, "unix");
    assert_string_equal(f->my.addr, "/run/mysqld/mysqld.sock");
    f->fx.av[0].value = "u@tcp(::1)/d";
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

    sw_fx_md(&f->fx, "query", "q");
    sw_fx_md(&f->fx, "queryValue", "1");
    sw_fx_auth(&f->fx, "connectionString", "");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f->fx.av[0].value = (char *)cases[i].dsn;
        expect(f, run_my(f), cases[i].want);
        assert_non_null(strstr(f->fx.err, "authentication.connectionString"));
        assert_null(strstr(f->fx.err, "s3cretpw"));
    }
}

/* Proves KEDA's invalid cases (no metadata; activationQueryValue "AA"; queryValue required)
 * and its *FromEnv cases read from the scale target's environment in KEDA's order. */
static void test_sw_mysql_cfg_parse_errors(void **state)
{
    fixture_t *f = *state;

    expect(f, run_my(f), "metadata.query: missing required parameter");
    sw_fx_md(&f->fx, "query", "query");
    expect(f, run_my(f), "metadata.queryValue: missing required parameter");
    sw_fx_md(&f->fx, "queryValue", "12");
    sw_fx_md(&f->fx, "activationQueryValue", "AA");
    sw_fx_auth(&f->fx, "host", "test_host");
    sw_fx_auth(&f->fx, "password", "MYSQL_PASSWORD");
    expect(f, run_my(f), "metadata.activationQueryValue: \"AA\" is not a number");
    sw_fx_md(&f->fx, "activationQueryValue", "2.5");
    assert_int_equal(run_my(f), 0);
    assert_true(f->my.activation == 2.5);

    sw_fx_auth_clear(&f->fx);
    sw_fx_md(&f->fx, "connectionStringFromEnv", "MYSQL_CONN_STR");
    sw_fx_env(&f->fx, "MYSQL_CONN_STR", "envuser:envpw@tcp(envhost:3307)/envdb");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.user, "envuser");
    assert_string_equal(f->my.password, "envpw");
    assert_string_equal(f->my.addr, "envhost:3307");
    sw_fx_md(&f->fx, "connectionStringFromEnv", NULL);
    sw_fx_md(&f->fx, "host", "h");
    sw_fx_md(&f->fx, "usernameFromEnv", "MYSQL_USERNAME");
    sw_fx_md(&f->fx, "passwordFromEnv", "MYSQL_PASSWORD");
    sw_fx_env(&f->fx, "MYSQL_USERNAME", "env-user");
    sw_fx_env(&f->fx, "MYSQL_PASSWORD", "env-pw");
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.user, "env-user");
    assert_string_equal(f->my.password, "env-pw");
    sw_fx_md(&f->fx, "username", "meta-user"); /* username: metadata before the environment */
    sw_fx_auth(&f->fx, "password", "auth-pw"); /* password: authentication before the environment */
    assert_int_equal(run_my(f), 0);
    assert_string_equal(f->my.user, "meta-user");
    assert_string_equal(f->my.password, "auth-pw");
}

/* ---- the watcher's specs ------------------------------------------------------------------- */

static int spec(const char *type, uint32_t index, fixture_t *f, scaler_spec_t *s, errtext_t *e)
{
    memset(s, 0, sizeof *s);
    e->text[0] = '\0';
    return scaler_spec_build(type, index, f->fx.md, s, e);
}

/* Proves KEDA's metric names (`s0-postgresql`, `s1-postgresql`; `s1-mysql-test_dbname`, the
 * dbName normalized) and that target and activation are the query values. */
static void test_scaler_spec_build_sql_metric_names(void **state)
{
    fixture_t *f = *state;
    scaler_spec_t s;
    errtext_t e;

    sw_fx_md(&f->fx, "query", "test_query");
    sw_fx_md(&f->fx, "targetQueryValue", "5");
    sw_fx_md(&f->fx, "activationTargetQueryValue", "3");
    assert_int_equal(spec("postgresql", 0, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s0-postgresql");
    assert_true(s.target == 5 && s.activation == 3);
    assert_int_equal(spec("postgresql", 1, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s1-postgresql");

    sw_fx_md(&f->fx, "queryValue", "12");
    sw_fx_md(&f->fx, "dbName", "test_dbname");
    assert_int_equal(spec("mysql", 1, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s1-mysql-test_dbname");
    assert_true(s.target == 12 && s.activation == 0);
    sw_fx_md(&f->fx, "dbName", " app.db:1 ");
    assert_int_equal(spec("mysql", 0, f, &s, &e), 0);
    assert_string_equal(s.metric_name, "s0-mysql-app-db-1");
    sw_fx_md(&f->fx, "dbName", NULL);
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
    sw_fx_md(&f->fx, "query", "q");
    assert_int_equal(spec("postgresql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.targetQueryValue: no targetQueryValue given"));
    assert_int_equal(spec("mysql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.queryValue: missing required parameter"));
    sw_fx_md(&f->fx, "targetQueryValue", "1e400");
    assert_int_equal(spec("postgresql", 0, f, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.targetQueryValue: \"1e400\" is out of range"));
    sw_fx_md(&f->fx, "queryValue", "5");
    sw_fx_md(&f->fx, "activationQueryValue", "AA");
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
