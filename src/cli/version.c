/* brr --version: what brr is and what it runs with. The libraries' versions are asked of the
 * libraries themselves at run time (the shared objects loaded, not the headers built against),
 * since that is what a bug report needs. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <uv.h>
#include <yaml.h>

#include "brr/cli.h"
#include "brr_build_info.h"

int brr_cli_print_version(FILE *out) {
  const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
  char pcre2[64] = "unknown";
  if (pcre2_config(PCRE2_CONFIG_VERSION, NULL) <= (int)sizeof pcre2)
    pcre2_config(PCRE2_CONFIG_VERSION, pcre2);
  fprintf(out, "brr %s\n", BRR_VERSION);
  fprintf(out, "commit %s\n", BRR_GIT_COMMIT);
  fprintf(out, "libuv %s\n", uv_version_string());
  fprintf(out, "libcurl %s%s%s%s\n", curl->version, curl->ssl_version ? " (" : "",
          curl->ssl_version ? curl->ssl_version : "", curl->ssl_version ? ")" : "");
  fprintf(out, "libyaml %s\n", yaml_get_version_string());
  fprintf(out, "cJSON %s\n", cJSON_Version());
  fprintf(out, "PCRE2 %s\n", pcre2);
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
