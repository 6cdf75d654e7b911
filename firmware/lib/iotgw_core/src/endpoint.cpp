#include "endpoint.h"

#include <string.h>

#include "identity.h"

namespace iotgw {

void endpoint_init(Endpoint& ep, const char* host, uint16_t port) {
  memset(&ep, 0, sizeof ep);
  copy_str(ep.host, sizeof ep.host, host);
  ep.port = port;
  copy_str(ep.path, sizeof ep.path, "/telemetry");
}

void endpoint_apply_txt(Endpoint& ep, const char* key, const char* value) {
  if (key == nullptr || value == nullptr) return;
  if (strcmp(key, "path") == 0) {
    // A path that does not start with '/' cannot be put in a request line; keep the default.
    if (value[0] == '/') copy_str(ep.path, sizeof ep.path, value);
  } else if (strcmp(key, "ws") == 0) {
    if (value[0] == '/' || value[0] == '\0') copy_str(ep.ws_path, sizeof ep.ws_path, value);
  } else if (strcmp(key, "auth") == 0) {
    ep.auth_required = strcmp(value, "1") == 0;
  } else if (strcmp(key, "id") == 0) {
    copy_str(ep.gateway_id, sizeof ep.gateway_id, value);
  }
}

int first_usable_answer(const MdnsAnswer* answers, int count) {
  if (answers == nullptr) return -1;
  for (int i = 0; i < count; ++i) {
    if (answers[i].ipv4 != 0 && answers[i].port != 0) return i;
  }
  return -1;
}

}  // namespace iotgw
