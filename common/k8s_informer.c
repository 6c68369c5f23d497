/*
 * k8s_informer: one resource type kept in sync by LIST then WATCH, as client-go's reflector
 * does (reference: control-plane.md §6). Runs inside k8s_loop_run_once, on the thread that owns
 * the loop (the watcher's main loop).
 *
 * States: IDLE (waiting until next_ns) -> LISTING (page by page) -> IDLE -> WATCHING -> IDLE...
 * - The first list asks for resourceVersion "0" (the watch cache); a list after 410 Gone asks
 *   for a consistent read (""); a list after any other failure, for the last synced version.
 * - A watch resumes from the last version seen (an event's or a bookmark's). A stream the
 *   server ends normally is re-watched at once, without a relist, unless it ended within a
 *   second with no event (then it counts as a failure).
 * - 410 (an HTTP status or an ERROR event with code 410) relists at once; any other ERROR event,
 *   a malformed or oversized event, or a list failure relists after a backoff; a transport
 *   error, 429 or 5xx re-watches after a backoff (at least Retry-After).
 * - Backoff: jittered, 1 s doubling to 30 s, reset by a complete list or a watch that lived a
 *   minute or delivered events.
 *
 * Invariants: the caller sees ADDED before MODIFIED or DELETED for a key, never a duplicate
 * version, and after each complete list exactly the server's set (a relist diffs against the
 * store and reports what vanished as DELETED with final_state_unknown). metadata.managedFields is
 * removed from every object before the strip hook and the callback.
 */
#include "common/k8s_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"

#define K8S_KEY_MAX (253 + 1 + 253 + 1)

/* ---- callbacks ---- */

void k8s_informer_fail(k8s_informer_t *inf, int err, const k8s_error_t *detail)
{
    inf->stats.errors++;
    if (detail->status == 401) /* perhaps a rotated token: read the file again next time */
        kubeconfig_token_invalidate(inf->loop->client->config);
    if (inf->dead)
        return;
    if (inf->ops.on_error)
        inf->ops.on_error(inf, err, detail, inf->userdata);
    else
        log_debug("informer %s: error %d (HTTP %ld): %s", inf->gvr.resource, err, detail->status,
                  detail->message);
}

static void inf_deliver(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown)
{
    if (inf->dead)
        return;
    jsonu_remove(obj, "metadata.managedFields");
    if (inf->ops.strip)
        inf->ops.strip(obj, inf->userdata);
    inf->stats.events++;
    if (inf->ops.on_event)
        inf->ops.on_event(inf, type, obj, unknown, inf->userdata);
}

/* A DELETED for a key the server no longer has, built from what the store remembers. */
static void inf_deliver_vanished(k8s_informer_t *inf, const k8s_store_entry_t *e)
{
    const char *slash = strchr(e->key, '/');
    cJSON *obj = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(obj, "metadata");
    char ns[254];
    size_t nslen = slash ? (size_t)(slash - e->key) : 0;

    if (!meta || !slash || nslen >= sizeof ns) {
        cJSON_Delete(obj);
        return;
    }
    memcpy(ns, e->key, nslen);
    ns[nslen] = '\0';
    cJSON_AddStringToObject(meta, "name", slash + 1);
    if (nslen)
        cJSON_AddStringToObject(meta, "namespace", ns);
    if (*e->uid)
        cJSON_AddStringToObject(meta, "uid", e->uid);
    if (*e->rv)
        cJSON_AddStringToObject(meta, "resourceVersion", e->rv);
    inf_deliver(inf, K8S_EVENT_DELETED, obj, true);
    cJSON_Delete(obj);
}

static void inf_sweep_one(k8s_store_entry_t *e, void *userdata)
{
    inf_deliver_vanished(userdata, e);
}

/* ---- objects ---- */

/* The store key ("<ns>/<name>") and identity of obj. -EBADMSG without metadata.name. */
static int inf_identity(const cJSON *obj, char *key, const char **ret_uid, const char **ret_rv)
{
    const char *name = NULL, *ns = "";

    if (jsonu_get_string(obj, "metadata.name", 253, &name, NULL) < 0 || !*name)
        return -EBADMSG;
    if (jsonu_get_string(obj, "metadata.namespace", 253, &ns, NULL) < 0)
        ns = "";
    snprintf(key, K8S_KEY_MAX, "%s/%s", ns, name);
    if (jsonu_get_string(obj, "metadata.uid", 0, ret_uid, NULL) < 0)
        *ret_uid = "";
    if (jsonu_get_string(obj, "metadata.resourceVersion", 0, ret_rv, NULL) < 0)
        *ret_rv = "";
    return 0;
}

static bool inf_rv_same(const k8s_store_entry_t *e, const char *rv)
{
    return *e->rv && strcmp(e->rv, rv) == 0;
}

/* An object seen by a list: ADDED, MODIFIED, a replacement (another uid), or nothing new. */
static int inf_listed(k8s_informer_t *inf, cJSON *obj)
{
    char key[K8S_KEY_MAX];
    const char *uid, *rv;
    k8s_store_entry_t *e;
    k8s_event_type_t type = K8S_EVENT_ADDED;

    if (inf_identity(obj, key, &uid, &rv) < 0)
        return -EBADMSG;
    e = k8s_store_find(&inf->store, key);
    if (e && *e->uid && *uid && strcmp(e->uid, uid) != 0) {
        /* Deleted and re-created while the watch was down. */
        inf_deliver_vanished(inf, e);
        k8s_store_remove(&inf->store, key);
        e = NULL;
    }
    if (e && inf_rv_same(e, rv)) {
        e->gen = inf->list_gen;
        return 0;
    }
    if (e)
        type = K8S_EVENT_MODIFIED;
    else if (!(e = k8s_store_upsert(&inf->store, key)))
        return -ENOMEM;
    k8s_store_entry_set(e, uid, rv);
    e->gen = inf->list_gen;
    inf_deliver(inf, type, obj, false);
    return 0;
}

static int inf_rv_adopt(char *dst, size_t size, const char *rv)
{
    size_t n = strlen(rv);

    if (n == 0 || n >= size)
        return -EBADMSG;
    memcpy(dst, rv, n + 1);
    return 0;
}

static void inf_list_complete(k8s_informer_t *inf)
{
    k8s_store_sweep(&inf->store, inf->list_gen, inf_sweep_one, inf);
    memcpy(inf->rv, inf->list_rv_buf, sizeof inf->rv);
    inf->want_list = false;
    inf->synced = true;
    inf->list_rv = K8S_LIST_RV_LAST;
    inf->backoff_step = 0;
    inf->stats.lists++;
    inf->stats.last_list_ns = k8s_now_ns();
    if (!inf->dead && inf->ops.on_synced)
        inf->ops.on_synced(inf, inf->userdata);
}

int k8s_informer_list_page(k8s_informer_t *inf, cJSON *list, bool *ret_more)
{
    cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items"), *item;
    const char *rv = NULL, *cont = NULL;
    int r = 0;

    if (!inf->continue_token) { /* the first page carries the list's version */
        if (jsonu_get_string(list, "metadata.resourceVersion", 0, &rv, NULL) < 0 ||
            inf_rv_adopt(inf->list_rv_buf, sizeof inf->list_rv_buf, rv) < 0)
            return -EBADMSG;
    }
    if (items && !cJSON_IsNull(items) && !cJSON_IsArray(items))
        return -EBADMSG;
    while (r == 0 && items && (item = cJSON_DetachItemFromArray(items, 0)) != NULL) {
        r = inf_listed(inf, item);
        cJSON_Delete(item);
    }
    if (r < 0)
        return r;
    free(inf->continue_token);
    inf->continue_token = NULL;
    if (jsonu_get_string(list, "metadata.continue", 0, &cont, NULL) == 0 && *cont) {
        inf->continue_token = strdup(cont);
        if (!inf->continue_token)
            return -ENOMEM;
        *ret_more = true;
        return 0;
    }
    inf_list_complete(inf);
    *ret_more = false;
    return 0;
}

/* ADDED, MODIFIED or DELETED from the watch. */
static int inf_watched(k8s_informer_t *inf, const char *type, cJSON *obj)
{
    char key[K8S_KEY_MAX];
    const char *uid, *rv;
    k8s_store_entry_t *e;

    if (inf_identity(obj, key, &uid, &rv) < 0)
        return -EBADMSG;
    if (*rv)
        (void)inf_rv_adopt(inf->rv, sizeof inf->rv, rv);
    e = k8s_store_find(&inf->store, key);
    if (strcmp(type, "DELETED") == 0) {
        if (!e)
            return 0; /* never delivered, so nothing to take back */
        k8s_store_remove(&inf->store, key);
        inf_deliver(inf, K8S_EVENT_DELETED, obj, false);
        return 0;
    }
    if (e && inf_rv_same(e, rv))
        return 0;
    k8s_event_type_t t = e ? K8S_EVENT_MODIFIED : K8S_EVENT_ADDED;
    if (!e && !(e = k8s_store_upsert(&inf->store, key)))
        return -ENOMEM;
    k8s_store_entry_set(e, uid, rv);
    e->gen = inf->list_gen;
    inf_deliver(inf, t, obj, false);
    return 0;
}

/* An ERROR event: the stream is over; 410 relists at once, anything else after a backoff. */
static int inf_watch_error(k8s_informer_t *inf, const cJSON *status)
{
    k8s_error_t err;
    long code;

    k8s_error_clear(&err);
    code = k8s_status_from_object(status, &err);
    if (code == 410) {
        inf->abort_gone = true;
    } else {
        inf->abort_relist = true;
        k8s_informer_fail(inf, code ? k8s_status_errno(code, err.reason) : -EIO, &err);
    }
    return 1;
}

int k8s_informer_watch_line(void *userdata, const char *line, size_t len)
{
    k8s_informer_t *inf = userdata;
    cJSON *ev = NULL, *obj;
    const char *type = NULL, *rv = NULL;
    int r = 0;

    if (inf->dead)
        return 1;
    if (jsonu_parse(line, len, &ev, NULL) < 0 ||
        jsonu_get_string(ev, "type", 32, &type, NULL) < 0 ||
        !cJSON_IsObject(obj = cJSON_GetObjectItemCaseSensitive(ev, "object"))) {
        cJSON_Delete(ev);
        return -EBADMSG;
    }
    inf->watch_events++;
    if (strcmp(type, "BOOKMARK") == 0) {
        if (jsonu_get_string(obj, "metadata.resourceVersion", 0, &rv, NULL) == 0)
            (void)inf_rv_adopt(inf->rv, sizeof inf->rv, rv);
    } else if (strcmp(type, "ERROR") == 0) {
        r = inf_watch_error(inf, obj);
    } else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0 ||
               strcmp(type, "DELETED") == 0) {
        r = inf_watched(inf, type, obj);
    } /* an unknown type is skipped, as client-go does */
    cJSON_Delete(ev);
    return r;
}
