#include "worker/load.h"

#include <unistd.h>

#include <cstdlib>

namespace krond::worker {

std::optional<double> SystemLoadPerCpu() {
  double load[1];
  if (getloadavg(load, 1) != 1) return std::nullopt;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return load[0] / static_cast<double>(cpus > 0 ? cpus : 1);
}

}  // namespace krond::worker
