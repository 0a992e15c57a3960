#pragma once

#include <functional>
#include <optional>

namespace krond::worker {

// Reports how loaded the host is, as the 1-minute load average divided by the number of
// online CPUs (1.0 = every CPU busy on average); nullopt when it cannot be read. The worker
// calls it from its poll thread only, at most once a second. Injected so that load
// shedding is tested without loading a machine.
using LoadSource = std::function<std::optional<double>()>;

// getloadavg(3) (1-minute) / sysconf(_SC_NPROCESSORS_ONLN). The kernel updates the load
// average every 5 s, so it lags a burst by seconds; that is fine for shedding, which is
// about sustained overload.
std::optional<double> SystemLoadPerCpu();

}  // namespace krond::worker
