// expect: fail "is ambiguous"
// The defect the compile check was made for (issue 20): a char[] value makes ESPmDNS's
// addServiceTxt(char*...) / (const char*...) / (String...) overloads ambiguous under the real
// 2.0.14 headers. If this ever passes, the check is not compiling against those headers.
#include <ESPmDNS.h>

void canary_ambiguous() {
  char value[8] = "x";
  MDNS.addServiceTxt("iotgw-dev", "tcp", "id", value);
}
