/* approval_webhook — see approval_webhook.h. */
#include "config.h"

#include "approval_webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "workers.h"

struct approval_webhook {
	pthread_mutex_t lock;
	pthread_cond_t idle;            /* inflight fell to 0 */
	unsigned inflight;
	uint64_t dropped, failed;
};

struct post {
	struct approval_webhook *w;
	char *url;
	char *body;
	size_t len;
};

struct approval_webhook *approval_webhook_new(void)
{
	struct approval_webhook *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->idle, NULL);
	return w;
}

void approval_webhook_free(struct approval_webhook *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	while (w->inflight > 0)
		pthread_cond_wait(&w->idle, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&w->idle);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void approval_webhook_counts(struct approval_webhook *w, uint64_t *dropped,
			     uint64_t *failed)
{
	pthread_mutex_lock(&w->lock);
	*dropped = w->dropped;
	*failed = w->failed;
	pthread_mutex_unlock(&w->lock);
}

/* The answer is not kept: nothing in it decides anything. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* 0 when the URL answered 2xx. */
static int post_once(const struct post *p, char *errbuf)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(
		NULL, "Content-Type: application/json");
	long status = 0;
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	if (c != NULL && h != NULL) {
		curl_easy_setopt(c, CURLOPT_URL, p->url);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT,
				 APPROVAL_WEBHOOK_TIMEOUT_SECS);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, p->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)p->len);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		rc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	}
	if (rc != CURLE_OK && errbuf[0] == '\0')
		snprintf(errbuf, CURL_ERROR_SIZE, "%s",
			 curl_easy_strerror(rc));
	else if (rc == CURLE_OK && (status < 200 || status > 299))
		snprintf(errbuf, CURL_ERROR_SIZE, "HTTP %ld", status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc == CURLE_OK && status >= 200 && status <= 299 ? 0 : -1;
}

static void post_free(struct post *p)
{
	free(p->url);
	free(p->body);
	free(p);
}

static void done(struct approval_webhook *w, int failed)
{
	pthread_mutex_lock(&w->lock);
	w->failed += failed != 0;
	if (--w->inflight == 0)
		pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->lock);
}

static void post_main(void *arg)
{
	struct post *p = arg;
	struct approval_webhook *w = p->w;
	char errbuf[CURL_ERROR_SIZE] = "";

	int rc = post_once(p, errbuf);
	if (rc < 0)
		log_warnx("approval_webhook: %s: %s", p->url, errbuf);
	post_free(p);
	done(w, rc < 0);
}

/* A slot for one more post, or 0 (counted as dropped). */
static int take_slot(struct approval_webhook *w)
{
	int ok;

	pthread_mutex_lock(&w->lock);
	ok = w->inflight < APPROVAL_WEBHOOK_MAX_INFLIGHT;
	if (ok)
		w->inflight++;
	else
		w->dropped++;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

void approval_webhook_send(void *arg, const char *url, const char *json,
			   size_t len)
{
	struct approval_webhook *w = arg;
	struct post *p;

	if (!take_slot(w)) {
		log_warnx("approval_webhook: %u posts in flight: one dropped",
			  APPROVAL_WEBHOOK_MAX_INFLIGHT);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p != NULL) {
		p->w = w;
		p->url = strdup(url);
		p->body = malloc(len + 1);
		p->len = len;
	}
	if (p == NULL || p->url == NULL || p->body == NULL) {
		if (p != NULL)
			post_free(p);
		log_warnx("approval_webhook: out of memory");
		done(w, 1);
		return;
	}
	memcpy(p->body, json, len);
	p->body[len] = '\0';
	if (workers_run(post_main, p) < 0) {
		log_warnx("approval_webhook: no worker thread");
		post_free(p);
		done(w, 1);
	}
}
