// The simulator's last stdout line: one JSON object with totals and, per device, what a test
// checks against the gateway (documented in main.cpp's usage and firmware/README.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim_device.h"

namespace sim {

std::string report_json(const SimOptions& opt, const std::vector<std::unique_ptr<SimDevice>>& devices);

}  // namespace sim
