
/*
 * Copyright (C) qbsync authors
 */


#include <grp.h>
#include <pwd.h>

#include "ngx_http_qbsync_oauth.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_events.h"
#include "qbsync_oauth.h"
#include "qbsync_str.h"


/* Intuit's access tokens are long JWT-like strings, refresh tokens short */
#define NGX_HTTP_QBSYNC_ACCESS_TOKEN_MAX   4096
#define NGX_HTTP_QBSYNC_REFRESH_TOKEN_MAX  512
#define NGX_HTTP_QBSYNC_TOKEN_FILE_MAX     65536

/* refresh this long before the access token expires */
#define NGX_HTTP_QBSYNC_EXPIRY_MARGIN      300

/* warn when the refresh token has less than this left */
#define NGX_HTTP_QBSYNC_REFRESH_WARN       (14 * 86400)

/* one refresh at a time; the others poll for its result, for so long */
#define NGX_HTTP_QBSYNC_REFRESH_LEASE      30000
#define NGX_HTTP_QBSYNC_WAIT_STEP          100
#define NGX_HTTP_QBSYNC_WAIT_MAX           10000

#define NGX_HTTP_QBSYNC_RETRY_AFTER        30


/*
 * The connection's tokens in the zone: one copy for every worker, pinned
 * (a rotated refresh token that could not be written to the file exists
 * nowhere else).  The token file's identity tells an operator's new file
 * from the one the module wrote last.
 */
typedef struct {
    time_t          expires_at;
    time_t          refresh_expires_at;
    time_t          file_mtime;
    long            file_mtime_nsec;
    ino_t           file_inode;
    uint32_t        generation;
    u_char          reauthorize;
    u_char          expiry_warned;
    uint16_t        access_len;
    uint16_t        refresh_len;
    u_char          access_token[NGX_HTTP_QBSYNC_ACCESS_TOKEN_MAX];
    u_char          refresh_token[NGX_HTTP_QBSYNC_REFRESH_TOKEN_MAX];
} ngx_http_qbsync_tokens_rec_t;


static ngx_int_t ngx_http_qbsync_oauth_writable(ngx_cycle_t *cycle,
    ngx_log_t *log, ngx_str_t *path, const char *what, const char *why,
    ngx_uint_t file);
static ngx_int_t ngx_http_qbsync_oauth_allowed(ngx_file_info_t *fi,
    uid_t uid, gid_t *groups, int ngroups, ngx_uint_t file);
static ngx_int_t ngx_http_qbsync_oauth_token_with(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec);
static ngx_int_t ngx_http_qbsync_oauth_current(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec,
    ngx_uint_t fresh);
static ngx_int_t ngx_http_qbsync_oauth_read_file(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec,
    ngx_file_info_t *fi);
static ngx_int_t ngx_http_qbsync_oauth_set(ngx_http_request_t *r,
    ngx_http_qbsync_tokens_rec_t *rec, qbsync_tokens_t *tokens);
static ngx_int_t ngx_http_qbsync_oauth_refresh(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec);
static ngx_int_t ngx_http_qbsync_oauth_refreshed(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx);
static ngx_int_t ngx_http_qbsync_oauth_refused(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec,
    const char *reason);
static ngx_int_t ngx_http_qbsync_oauth_persist(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_t *oauth, ngx_http_qbsync_tokens_rec_t *rec);
static ngx_int_t ngx_http_qbsync_oauth_save(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec);
static ngx_int_t ngx_http_qbsync_oauth_hand_out(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec);
static void ngx_http_qbsync_oauth_warn(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec);
static void ngx_http_qbsync_oauth_unlock(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx);


static ngx_str_t  ngx_http_qbsync_tokens_key = ngx_string("tokens");
static ngx_str_t  ngx_http_qbsync_refresh_key = ngx_string("refresh");


/*
 * Workers write the token file when Intuit rotates the refresh token: a
 * file they cannot write would lose the only valid refresh token at the
 * first rotation, so nginx refuses to start instead.  The check is made
 * for the user the workers will run as, while the master is still root
 * and the configuration is complete.
 */

ngx_int_t
ngx_http_qbsync_oauth_check_file(ngx_cycle_t *cycle, ngx_log_t *log,
    ngx_str_t *path)
{
    return ngx_http_qbsync_check_file(cycle, log, path, "token file",
                                      "Intuit rotates refresh tokens and "
                                      "the module must save each new one",
                                      0);
}


/*
 * The same check for any file the workers write: the file itself when it
 * exists (or must), and its directory.
 */

ngx_int_t
ngx_http_qbsync_check_file(ngx_cycle_t *cycle, ngx_log_t *log,
    ngx_str_t *path, const char *what, const char *why,
    ngx_uint_t may_be_missing)
{
    u_char           *p, *name;
    ngx_str_t         dir;
    ngx_file_info_t   fi;
    u_char            directory[64];

    for (p = path->data + path->len; p > path->data && p[-1] != '/'; p--) {
        /* void */
    }

    dir.data = path->data;
    dir.len = (p > path->data + 1) ? (size_t) (p - path->data - 1) : 1;

    name = ngx_pnalloc(cycle->pool, path->len + 1);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(name, path->data, path->len + 1);

    if (!(may_be_missing && ngx_file_info(name, &fi) == NGX_FILE_ERROR
          && ngx_errno == NGX_ENOENT)
        && ngx_http_qbsync_oauth_writable(cycle, log, path, what, why, 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_sprintf(directory, "directory of %s%Z", what);

    return ngx_http_qbsync_oauth_writable(cycle, log, &dir,
                                          (char *) directory, why, 0);
}


static ngx_int_t
ngx_http_qbsync_oauth_writable(ngx_cycle_t *cycle, ngx_log_t *log,
    ngx_str_t *path, const char *what, const char *why, ngx_uint_t file)
{
    int               ngroups;
    uid_t             uid;
    gid_t             gid, groups[64];
    u_char           *name;
    ngx_core_conf_t  *ccf;
    ngx_file_info_t   fi;
    struct passwd    *pwd;

    name = ngx_pnalloc(cycle->pool, path->len + 1);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(name, path->data, path->len + 1);

    if (ngx_file_info(name, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "%s \"%s\" cannot be used", what, name);
        return NGX_ERROR;
    }

    if (file && !ngx_is_file(&fi)) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "%s \"%s\" is not a regular file", what, name);
        return NGX_ERROR;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    uid = geteuid();
    gid = getegid();

    if (uid == 0) {
        /* the workers switch to the "user" directive's user, or nobody */
        if (ccf->user != (uid_t) NGX_CONF_UNSET_UINT) {
            uid = ccf->user;
            gid = ccf->group;

        } else {
            pwd = getpwnam(NGX_USER);
            if (pwd == NULL) {
                return NGX_OK;
            }

            uid = pwd->pw_uid;
            gid = pwd->pw_gid;
        }
    }

    ngroups = 1;
    groups[0] = gid;

    pwd = getpwuid(uid);

    if (pwd != NULL) {
        ngroups = sizeof(groups) / sizeof(gid_t);

        if (getgrouplist(pwd->pw_name, gid, groups, &ngroups) < 0) {
            ngroups = 1;
            groups[0] = gid;
        }
    }

    if (ngx_http_qbsync_oauth_allowed(&fi, uid, groups, ngroups, file)
        == NGX_OK)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, log, 0,
                  "the worker user (uid %d) cannot %s %s \"%s\": %s",
                  (int) uid, file ? "read and write" : "create files in",
                  what, name, why);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_qbsync_oauth_allowed(ngx_file_info_t *fi, uid_t uid, gid_t *groups,
    int ngroups, ngx_uint_t file)
{
    int        i;
    mode_t     need, mode;

    if (uid == 0) {
        return NGX_OK;
    }

    /* a file is read and written; a directory gets a new file renamed in */
    need = file ? (S_IRUSR|S_IWUSR) : (S_IWUSR|S_IXUSR);
    mode = fi->st_mode;

    if (fi->st_uid == uid) {
        return ((mode & need) == need) ? NGX_OK : NGX_DECLINED;
    }

    for (i = 0; i < ngroups; i++) {
        if (fi->st_gid == groups[i]) {
            return ((mode & (need >> 3)) == (need >> 3)) ? NGX_OK
                                                         : NGX_DECLINED;
        }
    }

    return ((mode & (need >> 6)) == (need >> 6)) ? NGX_OK : NGX_DECLINED;
}


void
ngx_http_qbsync_oauth_init(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_oauth_t *oauth,
    ngx_shm_zone_t *shm_zone)
{
    ngx_memzero(octx, sizeof(ngx_http_qbsync_oauth_ctx_t));

    octx->oauth = oauth;
    octx->shm_zone = shm_zone;

    octx->lock.ns = oauth->ns;
    octx->lock.id = ngx_http_qbsync_refresh_key;

    octx->wait.handler = ngx_http_qbsync_call_wake;
    octx->wait.data = r;
    octx->wait.log = r->connection->log;
}


/*
 * NGX_OK: octx->authorization holds a valid Bearer token.  NGX_AGAIN: a
 * refresh or a wait is under way, the request is woken when it ends.
 * NGX_DECLINED: Intuit refused the refresh token, the operator must
 * re-authorise.  NGX_ERROR: no token now, retry in octx->retry_after.
 */

ngx_int_t
ngx_http_qbsync_oauth_token(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx)
{
    ngx_int_t                      rc;
    ngx_http_qbsync_tokens_rec_t  *rec;

    if (octx->refreshing) {

        if (!octx->refresh.done) {
            return NGX_AGAIN;
        }

        octx->refreshing = 0;

        return ngx_http_qbsync_oauth_refreshed(r, octx);
    }

    if (octx->wait.timer_set) {
        return NGX_AGAIN;
    }

    octx->retry_after = NGX_HTTP_QBSYNC_RETRY_AFTER;

    /* a few kB a call: a request that makes many gives it back at once */
    rec = ngx_palloc(r->pool, sizeof(ngx_http_qbsync_tokens_rec_t));
    if (rec == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_qbsync_oauth_token_with(r, octx, rec);

    ngx_pfree(r->pool, rec);

    return rc;
}


static ngx_int_t
ngx_http_qbsync_oauth_token_with(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec)
{
    ngx_int_t  rc;

    rc = ngx_http_qbsync_oauth_current(r, octx, rec, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    if (rec->reauthorize) {
        return NGX_DECLINED;
    }

    if (rec->access_len
        && rec->expires_at - NGX_HTTP_QBSYNC_EXPIRY_MARGIN > ngx_time())
    {
        return ngx_http_qbsync_oauth_hand_out(r, octx, rec);
    }

    switch (ngx_http_qbsync_key_acquire(octx->shm_zone, &octx->lock,
                                        NGX_HTTP_QBSYNC_REFRESH_LEASE,
                                        &octx->retry_after, NULL))
    {
    case NGX_HTTP_QBSYNC_KEY_ACQUIRED:
        octx->holds_lock = 1;
        break;

    case NGX_HTTP_QBSYNC_KEY_IN_PROGRESS:

        if (octx->waited >= NGX_HTTP_QBSYNC_WAIT_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "qbsync: gave up waiting for another worker's "
                          "refresh of the QuickBooks token");
            return NGX_ERROR;
        }

        octx->waited += NGX_HTTP_QBSYNC_WAIT_STEP;
        ngx_add_timer(&octx->wait, NGX_HTTP_QBSYNC_WAIT_STEP);

        return NGX_AGAIN;

    default:
        return NGX_ERROR;
    }

    /*
     * Re-read the file before refreshing: another master (a binary
     * upgrade) or the operator may have put a newer token there, which is
     * then used rather than refreshed twice.
     */

    rc = ngx_http_qbsync_oauth_current(r, octx, rec, 1);

    if (rc == NGX_OK && !rec->reauthorize && rec->access_len
        && rec->expires_at - NGX_HTTP_QBSYNC_EXPIRY_MARGIN > ngx_time())
    {
        ngx_http_qbsync_oauth_unlock(r, octx);
        return ngx_http_qbsync_oauth_hand_out(r, octx, rec);
    }

    if (rc != NGX_OK || rec->reauthorize) {
        ngx_http_qbsync_oauth_unlock(r, octx);
        return (rc != NGX_OK) ? rc : NGX_DECLINED;
    }

    return ngx_http_qbsync_oauth_refresh(r, octx, rec);
}


/* A 401 answered the token handed out: let the next call refresh it. */

void
ngx_http_qbsync_oauth_rejected(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx)
{
    ngx_http_qbsync_tokens_rec_t  *rec;

    rec = ngx_palloc(r->pool, sizeof(ngx_http_qbsync_tokens_rec_t));
    if (rec == NULL) {
        return;
    }

    if (ngx_http_qbsync_record_get(octx->shm_zone, octx->oauth->ns,
                                   &ngx_http_qbsync_tokens_key, rec,
                                   sizeof(ngx_http_qbsync_tokens_rec_t))
        != NGX_OK)
    {
        ngx_pfree(r->pool, rec);
        return;
    }

    /* a token refreshed meanwhile by someone else is not expired */
    if (rec->generation == octx->generation) {
        rec->expires_at = 0;
        (void) ngx_http_qbsync_oauth_save(r, octx, rec);
    }

    ngx_pfree(r->pool, rec);
}


void
ngx_http_qbsync_oauth_finish(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx)
{
    if (octx->wait.timer_set) {
        ngx_del_timer(&octx->wait);
    }

    ngx_http_qbsync_oauth_unlock(r, octx);
}


/*
 * The tokens every worker sees, read again from the token file when the
 * file is not the one last read or written: that is how an operator's
 * re-authorisation (a new refresh token written to the file) is noticed.
 */

static ngx_int_t
ngx_http_qbsync_oauth_current(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec,
    ngx_uint_t fresh)
{
    ngx_int_t                 found;
    ngx_file_info_t           fi;
    ngx_http_qbsync_oauth_t  *oauth;

    oauth = octx->oauth;

    found = ngx_http_qbsync_record_get(octx->shm_zone, oauth->ns,
                                       &ngx_http_qbsync_tokens_key, rec,
                                       sizeof(ngx_http_qbsync_tokens_rec_t));

    /*
     * A file the zone already holds, seen this second, is not looked at
     * again (a stat() costs more than the rest of handing out a token);
     * before a refresh, or while waiting for a re-authorisation, it
     * always is.
     */

    if (!fresh && found == NGX_OK && !rec->reauthorize
        && oauth->file_checked == ngx_time()
        && rec->file_mtime == oauth->file_mtime
        && rec->file_mtime_nsec == oauth->file_mtime_nsec
        && rec->file_inode == oauth->file_inode)
    {
        return NGX_OK;
    }

    if (ngx_file_info(oauth->token_file.data, &fi) == NGX_FILE_ERROR) {

        if (found == NGX_OK) {
            /* the zone's tokens are good even if the file went away */
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                          ngx_file_info_n " \"%V\" failed",
                          &octx->oauth->token_file);
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "qbsync: no QuickBooks tokens: " ngx_file_info_n
                      " \"%V\" failed", &octx->oauth->token_file);
        return NGX_ERROR;
    }

    oauth->file_checked = ngx_time();
    oauth->file_mtime = fi.st_mtim.tv_sec;
    oauth->file_mtime_nsec = fi.st_mtim.tv_nsec;
    oauth->file_inode = fi.st_ino;

    if (found == NGX_OK
        && rec->file_mtime == fi.st_mtim.tv_sec
        && rec->file_mtime_nsec == fi.st_mtim.tv_nsec
        && rec->file_inode == fi.st_ino)
    {
        return NGX_OK;
    }

    if (found != NGX_OK) {
        ngx_memzero(rec, sizeof(ngx_http_qbsync_tokens_rec_t));
    }

    return ngx_http_qbsync_oauth_read_file(r, octx, rec, &fi);
}


static ngx_int_t
ngx_http_qbsync_oauth_read_file(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec,
    ngx_file_info_t *fi)
{
    u_char              *data;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_file_t           file;
    qbsync_tokens_t      tokens;
    qbsync_oauth_rc_t    rc;
    qbsync_allocator_t   allocator;
    char                 error[QBSYNC_OAUTH_ERROR_MAX];

    if (ngx_file_size(fi) > NGX_HTTP_QBSYNC_TOKEN_FILE_MAX) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: token file \"%V\" is too large",
                      &octx->oauth->token_file);
        return NGX_ERROR;
    }

    data = ngx_pnalloc(r->pool, (size_t) ngx_file_size(fi) + 1);
    if (data == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(octx->oauth->token_file.data, NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed",
                      &octx->oauth->token_file);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = octx->oauth->token_file;
    file.log = r->connection->log;

    n = ngx_read_file(&file, data, (size_t) ngx_file_size(fi), 0);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed",
                      &octx->oauth->token_file);
    }

    if (n != (ssize_t) ngx_file_size(fi)) {
        return NGX_ERROR;
    }

    allocator.alloc = ngx_http_qbsync_pool_alloc;
    allocator.ctx = r->pool;

    rc = qbsync_oauth_tokens_parse(data, (size_t) n, &allocator, &tokens,
                                   error, sizeof(error));

    ngx_explicit_memzero(data, (size_t) n);

    if (rc != QBSYNC_OAUTH_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: token file \"%V\" is not usable: %s",
                      &octx->oauth->token_file, error);
        return NGX_ERROR;
    }

    if (ngx_http_qbsync_oauth_set(r, rec, &tokens) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the operator's new file is a new authorisation */
    rec->reauthorize = 0;
    rec->file_mtime = fi->st_mtim.tv_sec;
    rec->file_mtime_nsec = fi->st_mtim.tv_nsec;
    rec->file_inode = fi->st_ino;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "qbsync: read the QuickBooks tokens from \"%V\"",
                  &octx->oauth->token_file);

    ngx_http_qbsync_oauth_warn(r, octx, rec);

    return ngx_http_qbsync_oauth_save(r, octx, rec);
}


static ngx_int_t
ngx_http_qbsync_oauth_set(ngx_http_request_t *r,
    ngx_http_qbsync_tokens_rec_t *rec, qbsync_tokens_t *tokens)
{
    if (tokens->access_token.len > NGX_HTTP_QBSYNC_ACCESS_TOKEN_MAX
        || tokens->refresh_token.len > NGX_HTTP_QBSYNC_REFRESH_TOKEN_MAX)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: a QuickBooks token is longer than the "
                      "module keeps");
        return NGX_ERROR;
    }

    ngx_memcpy(rec->access_token, tokens->access_token.data,
               tokens->access_token.len);
    rec->access_len = (uint16_t) tokens->access_token.len;

    /* Intuit may keep the refresh token: the old one stays then */
    if (tokens->refresh_token.len) {
        ngx_memcpy(rec->refresh_token, tokens->refresh_token.data,
                   tokens->refresh_token.len);
        rec->refresh_len = (uint16_t) tokens->refresh_token.len;
    }

    rec->expires_at = (time_t) tokens->expires_at;

    if (tokens->refresh_token_expires_at) {
        rec->refresh_expires_at = (time_t) tokens->refresh_token_expires_at;
    }

    rec->generation++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_oauth_refresh(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec)
{
    u_char                  *body;
    size_t                   size;
    ngx_http_qbsync_call_t  *call;

    if (rec->refresh_len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: token file \"%V\" has no refresh token",
                      &octx->oauth->token_file);
        ngx_http_qbsync_oauth_unlock(r, octx);
        return NGX_ERROR;
    }

    size = sizeof("grant_type=refresh_token&refresh_token=")
           + 3 * rec->refresh_len;

    body = ngx_pnalloc(r->pool, size);
    if (body == NULL) {
        ngx_http_qbsync_oauth_unlock(r, octx);
        return NGX_ERROR;
    }

    call = &octx->refresh;
    ngx_memzero(call, sizeof(ngx_http_qbsync_call_t));

    call->method = NGX_HTTP_POST;
    call->operation = NGX_HTTP_QBSYNC_OP_TOKEN_REFRESH;
    call->uri = octx->oauth->prefix;
    call->authorization = octx->oauth->authorization;
    ngx_str_set(&call->content_type, "application/x-www-form-urlencoded");

    call->body.data = body;
    call->body.len = qbsync_oauth_refresh_body((char *) rec->refresh_token,
                                               rec->refresh_len, (char *) body,
                                               size);

    if (call->body.len == 0
        || ngx_http_qbsync_call_start(r, call) != NGX_OK)
    {
        ngx_http_qbsync_oauth_unlock(r, octx);
        return NGX_ERROR;
    }

    octx->refreshing = 1;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "qbsync: refreshing the QuickBooks access token of \"%V\"",
                  &octx->oauth->token_file);

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_qbsync_oauth_refreshed(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx)
{
    ngx_int_t                      rc;
    qbsync_tokens_t                tokens;
    qbsync_oauth_rc_t              orc;
    qbsync_allocator_t             allocator;
    qbsync_events_record_t         event;
    ngx_http_qbsync_call_t        *call;
    ngx_http_qbsync_tokens_rec_t  *rec;
    char                           error[QBSYNC_OAUTH_ERROR_MAX];

    call = &octx->refresh;

    rec = ngx_palloc(r->pool, sizeof(ngx_http_qbsync_tokens_rec_t));
    if (rec == NULL
        || ngx_http_qbsync_record_get(octx->shm_zone, octx->oauth->ns,
                                      &ngx_http_qbsync_tokens_key, rec,
                                      sizeof(ngx_http_qbsync_tokens_rec_t))
           != NGX_OK)
    {
        ngx_http_qbsync_oauth_unlock(r, octx);
        return NGX_ERROR;
    }

    allocator.alloc = ngx_http_qbsync_pool_alloc;
    allocator.ctx = r->pool;
    error[0] = '\0';

    orc = QBSYNC_OAUTH_INVALID;

    if (call->status == NGX_HTTP_OK || call->status == NGX_HTTP_BAD_REQUEST
        || call->status == NGX_HTTP_UNAUTHORIZED)
    {
        orc = qbsync_oauth_refresh_parse(call->response.data,
                                         call->response.len, ngx_time(),
                                         &allocator, &tokens, error,
                                         sizeof(error));
    }

    if (call->status == NGX_HTTP_OK && orc == QBSYNC_OAUTH_OK) {

        if (ngx_http_qbsync_oauth_set(r, rec, &tokens) != NGX_OK) {
            ngx_http_qbsync_oauth_unlock(r, octx);
            return NGX_ERROR;
        }

        rec->reauthorize = 0;

        /* the file first: a crash must never lose the only refresh token */
        (void) ngx_http_qbsync_oauth_persist(r, octx->oauth, rec);

        rc = ngx_http_qbsync_oauth_save(r, octx, rec);
        ngx_http_qbsync_oauth_unlock(r, octx);

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qbsync: refreshed the QuickBooks access token of "
                      "\"%V\"", &octx->oauth->token_file);

        ngx_http_qbsync_event_init(r, &event, QBSYNC_EVENTS_TOKEN_REFRESHED,
                                   "refreshed", sizeof("refreshed") - 1);
        event.attempts = 1;
        ngx_http_qbsync_event_add(r, octx->shm_zone, &event);

        ngx_http_qbsync_oauth_warn(r, octx, rec);

        return ngx_http_qbsync_oauth_hand_out(r, octx, rec);
    }

    if (orc == QBSYNC_OAUTH_REFUSED
        && ngx_strncmp(error, "invalid_grant", 13) == 0)
    {
        return ngx_http_qbsync_oauth_refused(r, octx, rec, error);
    }

    ngx_http_qbsync_oauth_unlock(r, octx);

    if (call->retry_after > 0) {
        octx->retry_after = call->retry_after;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "qbsync: refreshing the QuickBooks token failed: status "
                  "%ui%s%s, intuit_tid \"%V\"", call->status,
                  error[0] ? ", " : "", error, &call->intuit_tid);

    return NGX_ERROR;
}


/*
 * Intuit refused the refresh token (revoked, rotated elsewhere, expired):
 * no retry can fix that, only a new authorisation written to the file.
 */

static ngx_int_t
ngx_http_qbsync_oauth_refused(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec,
    const char *reason)
{
    ngx_uint_t  first;

    first = !rec->reauthorize;
    rec->reauthorize = 1;

    (void) ngx_http_qbsync_oauth_save(r, octx, rec);
    ngx_http_qbsync_oauth_unlock(r, octx);

    if (first) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "qbsync: Intuit refused the refresh token of \"%V\" "
                      "(%s): the QuickBooks connection must be "
                      "re-authorised; write a new refresh token to that "
                      "file; intuit_tid \"%V\"", &octx->oauth->token_file,
                      reason, &octx->refresh.intuit_tid);
    }

    return NGX_DECLINED;
}


/*
 * The token file is replaced whole: written beside it with mode 0600,
 * synced, renamed over it, the directory synced.  A failure leaves the
 * old file in place and the new tokens in the zone only.
 */

static ngx_int_t
ngx_http_qbsync_oauth_persist(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_t *oauth, ngx_http_qbsync_tokens_rec_t *rec)
{
    u_char           *data, *temp, *dir, *p;
    size_t            size, len;
    ngx_fd_t          fd;
    ngx_err_t         err;
    qbsync_tokens_t   tokens;
    ngx_file_info_t   fi;

    tokens.access_token.data = (char *) rec->access_token;
    tokens.access_token.len = rec->access_len;
    tokens.refresh_token.data = (char *) rec->refresh_token;
    tokens.refresh_token.len = rec->refresh_len;
    tokens.expires_at = rec->expires_at;
    tokens.refresh_token_expires_at = rec->refresh_expires_at;

    size = 2 * (rec->access_len + rec->refresh_len) + 256;

    data = ngx_pnalloc(r->pool, size);
    temp = ngx_pnalloc(r->pool, oauth->token_file.len + sizeof(".tmp"));
    dir = ngx_pnalloc(r->pool, oauth->token_file.len + 1);

    if (data == NULL || temp == NULL || dir == NULL) {
        return NGX_ERROR;
    }

    len = qbsync_oauth_tokens_write(&tokens, data, size);
    if (len == 0) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(temp, oauth->token_file.data, oauth->token_file.len);
    ngx_memcpy(p, ".tmp", sizeof(".tmp"));

    err = 0;

    fd = ngx_open_file(temp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

    } else {
        if (ngx_write_fd(fd, data, len) != (ssize_t) len || fsync(fd) == -1) {
            err = ngx_errno;
        }

        if (ngx_close_file(fd) == NGX_FILE_ERROR && err == 0) {
            err = ngx_errno;
        }

        if (err == 0
            && ngx_rename_file(temp, oauth->token_file.data)
               == NGX_FILE_ERROR)
        {
            err = ngx_errno;
        }

        if (err) {
            (void) ngx_delete_file(temp);
        }
    }

    ngx_explicit_memzero(data, len);

    if (err) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      "qbsync: could not save the rotated QuickBooks tokens "
                      "to \"%V\"; they are kept in memory only until this "
                      "nginx stops", &oauth->token_file);
        return NGX_ERROR;
    }

    /* the rename itself must reach the disk too */

    p = ngx_cpymem(dir, oauth->token_file.data, oauth->token_file.len);

    while (p > dir + 1 && p[-1] != '/') {
        p--;
    }

    *(p > dir + 1 ? p - 1 : p) = '\0';

    fd = ngx_open_file(dir, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        (void) fsync(fd);
        (void) ngx_close_file(fd);
    }

    if (ngx_file_info(oauth->token_file.data, &fi) != NGX_FILE_ERROR) {
        rec->file_mtime = fi.st_mtim.tv_sec;
        rec->file_mtime_nsec = fi.st_mtim.tv_nsec;
        rec->file_inode = fi.st_ino;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_oauth_save(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec)
{
    if (ngx_http_qbsync_record_put(octx->shm_zone, octx->oauth->ns,
                                   &ngx_http_qbsync_tokens_key, rec,
                                   sizeof(ngx_http_qbsync_tokens_rec_t), 0)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "qbsync_zone \"%V\" has no room for the QuickBooks "
                      "tokens", &octx->shm_zone->shm.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_oauth_hand_out(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec)
{
    u_char  *p;

    octx->authorization.len = sizeof("Bearer ") - 1 + rec->access_len;
    octx->authorization.data = ngx_pnalloc(r->pool, octx->authorization.len);
    if (octx->authorization.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(octx->authorization.data, "Bearer ",
                   sizeof("Bearer ") - 1);
    ngx_memcpy(p, rec->access_token, rec->access_len);

    octx->generation = rec->generation;

    return NGX_OK;
}


static void
ngx_http_qbsync_oauth_warn(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_tokens_rec_t *rec)
{
    time_t  left;

    if (rec->refresh_expires_at == 0) {
        return;
    }

    left = rec->refresh_expires_at - ngx_time();

    if (left >= NGX_HTTP_QBSYNC_REFRESH_WARN) {
        rec->expiry_warned = 0;
        return;
    }

    if (rec->expiry_warned) {
        return;
    }

    rec->expiry_warned = 1;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "qbsync: the QuickBooks refresh token of \"%V\" expires "
                  "within %T days; re-authorise the connection before then",
                  &octx->oauth->token_file,
                  left > 0 ? (left + 86399) / 86400 : 0);
}


static void
ngx_http_qbsync_oauth_unlock(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx)
{
    if (octx->holds_lock) {
        octx->holds_lock = 0;
        ngx_http_qbsync_key_release(octx->shm_zone, &octx->lock,
                                    r->connection->log);
    }
}


/* What the metrics and the health tell of a token file's tokens. */

void
ngx_http_qbsync_oauth_state(ngx_shm_zone_t *shm_zone, ngx_str_t *token_file,
    time_t *expires_at, time_t *refresh_expires_at, ngx_uint_t *reauthorize)
{
    ngx_http_qbsync_tokens_rec_t  *rec;

    *expires_at = 0;
    *refresh_expires_at = 0;
    *reauthorize = 0;

    rec = ngx_alloc(sizeof(ngx_http_qbsync_tokens_rec_t), ngx_cycle->log);
    if (rec == NULL) {
        return;
    }

    if (ngx_http_qbsync_record_get(shm_zone,
                                   ngx_http_qbsync_zone_ns("tokens",
                                                           token_file),
                                   &ngx_http_qbsync_tokens_key, rec,
                                   sizeof(ngx_http_qbsync_tokens_rec_t))
        == NGX_OK)
    {
        *expires_at = rec->access_len ? rec->expires_at : 0;
        *refresh_expires_at = rec->refresh_expires_at;
        *reauthorize = rec->reauthorize;
    }

    /* the copy holds the tokens: wiped before the memory goes */
    ngx_explicit_memzero(rec, sizeof(ngx_http_qbsync_tokens_rec_t));
    ngx_free(rec);
}
