/*
 * test_adapter_common.c - the adapter toolkit (adapters/adapter.c):
 * RFC 8288 Link parsing on recorded headers, header lookup, JSON with an
 * XSSI prefix, origin folding, output bookkeeping.
 */
#include "adapter_fixture.h"

Test(adapter_common, link_next_gitlab_headers)
{
	struct fx_response fx;
	fx_load(&fx, "gitlab/pipelines_list.json", "gitlab/_headers/pipelines_list.headers.txt",
	        "https://gitlab.example.com/api/v4/projects/1/pipelines");
	char *next = adapter_link_next(&fx.r);
	cr_assert_str_eq(next,
	                 "https://gitlab.example.com/api/v4/projects/1/pipelines?id=1&order_by="
	                 "updated_at&page=2&per_page=2&sort=asc&updated_after=2016-08-11T00%3A"
	                 "00%3A00Z");
	free(next);
	/* case-insensitive lookup; an empty value is present but empty */
	cr_assert_str_eq(adapter_header(&fx.r, "X-Next-Page"), "2");
	cr_assert_str_eq(adapter_header(&fx.r, "x-prev-page"), "");
	cr_assert_str_eq(adapter_header(&fx.r, "ETag"), "W/\"b5a6a1a4c3d2e1f0a9b8c7d6e5f4a3b2\"");
	cr_assert_null(adapter_header(&fx.r, "retry-after"));
	fx_free(&fx);
}

Test(adapter_common, link_next_patchwork_absent_and_present)
{
	struct fx_response fx;
	/* last page: only rel=first/last, no next */
	fx_load(&fx, "patchwork/events_forward_since.json",
	        "patchwork/_headers/events_forward_since.headers.txt", "x");
	cr_assert_null(adapter_link_next(&fx.r));
	fx_free(&fx);
	fx_load(&fx, "patchwork/events_default_page1.json",
	        "patchwork/_headers/events_default_page1.headers.txt", "x");
	char *next = adapter_link_next(&fx.r);
	cr_assert_str_eq(next,
	                 "https://patchwork.example.com/api/1.3/events/?page=2&project=patchwork");
	free(next);
	fx_free(&fx);
	/* page 2 has prev, first, last but no next */
	fx_load(&fx, "patchwork/events_default_page2.json",
	        "patchwork/_headers/events_default_page2.headers.txt", "x");
	cr_assert_null(adapter_link_next(&fx.r));
	fx_free(&fx);
}

Test(adapter_common, link_next_odd_forms)
{
	struct adapter_header h[2] = {{"link", NULL}, {"link", NULL}};
	struct adapter_response r = {.status = 200, .url = "x", .headers = h, .nheaders = 1};
	/* several relations in one quoted rel, unquoted rel, extra params, commas in URL */
	h[0].value = "<https://a/x?a=1,2>; title=\"a, b\"; rel=\"prev next\"";
	char *n = adapter_link_next(&r);
	cr_assert_str_eq(n, "https://a/x?a=1,2");
	free(n);
	h[0].value = "<https://a/1>; rel=first, <https://a/3>;rel=next";
	n = adapter_link_next(&r);
	cr_assert_str_eq(n, "https://a/3");
	free(n);
	h[0].value = "<https://a/1>; rel=\"nextish\"";
	cr_assert_null(adapter_link_next(&r));
	/* two separate Link headers */
	h[0].value = "<https://a/1>; rel=first";
	h[1].value = "<https://a/2>; rel=\"next\"";
	r.nheaders = 2;
	n = adapter_link_next(&r);
	cr_assert_str_eq(n, "https://a/2");
	free(n);
	/* garbage never crashes */
	h[0].value = "<unterminated; rel=next";
	h[1].value = ";;;,,,<>";
	cr_assert_null(adapter_link_next(&r));
}

Test(adapter_common, json_with_xssi_prefix)
{
	struct fx_response fx;
	struct err err = ERR_INIT;
	fx_load(&fx, "gerrit/changes_query_docs_more_changes.json", NULL, "https://g/changes/");
	cr_assert_null(adapter_json(&fx.r, NULL, &err), "the prefix is not JSON");
	cr_assert_eq(err.code, ERR_INVALID);
	cr_assert(strstr(err_msg(&err), "https://g/changes/"), "error names the URL: %s",
	          err_msg(&err));
	err_clear(&err);
	json_t *v = adapter_json(&fx.r, ")]}'", &err);
	cr_assert(json_is_array(v));
	cr_assert_eq(json_array_size(v), 2);
	json_decref(v);
	fx_set_body(&fx, "{\"a\": [1, 2");
	cr_assert_null(adapter_json(&fx.r, ")]}'", &err));
	cr_assert(strstr(err_msg(&err), "malformed JSON"));
	fx_free(&fx);
	err_free(&err);
}

Test(adapter_common, origin_folding)
{
	char *o = adapter_default_origin("CKI-Ark.main");
	cr_assert_str_eq(o, "cki_ark_main");
	cr_assert(kcidb_origin_valid(o));
	free(o);
	o = adapter_default_origin("");
	cr_assert(kcidb_origin_valid(o));
	free(o);
}

Test(adapter_common, output_bookkeeping)
{
	struct adapter_source src = {.name = "s", .origin = "s"};
	struct adapter_output out;
	adapter_output_init(&out);
	json_t *t = json_pack("{s:s, s:s}", "id", "s:1", "build_id", "s:b");
	adapter_add(&out, &src, KCIDB_TEST, t);
	cr_assert_str_eq(fx_str(fx_obj(&out, "tests", "s:1"), "origin"), "s");
	struct adapter_request *r = adapter_request_add(
	    &out, 7, ADAPTER_REQ_NEXT, json_pack("{s:i}", "page", 2), "https://h/x?page=%d", 2);
	r->cache_key = xstrdup("k");
	cr_assert_eq(out.nreqs, 1);
	cr_assert_str_eq(out.reqs[0].url, "https://h/x?page=2");
	struct adapter_request copy;
	adapter_request_copy(&copy, &out.reqs[0]);
	cr_assert_str_eq(copy.cache_key, "k");
	cr_assert_eq(json_integer_value(json_object_get(copy.ctx, "page")), 2);
	adapter_request_free(&copy);
	adapter_set_cursor(&out, json_pack("{s:s}", "a", "b"));
	adapter_set_cursor(&out, json_pack("{s:s}", "a", "c"));
	cr_assert_str_eq(fx_str(out.cursor, "a"), "c");
	fx_assert_valid(&out);
	adapter_output_free(&out);
}
