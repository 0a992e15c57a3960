#include "exec/microvm_guest.h"

#include <cstdio>
#include <cstdlib>

#include "common/env_name.h"
#include "exec/spawn.h"

namespace krond::exec::microvm {
namespace {

void AppendHex8(std::string& out, unsigned long value) {
  char buffer[9];
  std::snprintf(buffer, sizeof buffer, "%08lX", value & 0xFFFFFFFFUL);
  out.append(buffer, 8);
}

void PadTo4(std::string& out) {
  while (out.size() % 4 != 0) out.push_back('\0');
}

void AppendEntry(std::string& out, unsigned long ino, std::string_view name, unsigned long mode,
                 std::string_view data) {
  out.append("070701");
  const unsigned long fields[] = {ino,
                                  mode,
                                  0 /*uid*/,
                                  0 /*gid*/,
                                  1 /*nlink*/,
                                  0 /*mtime*/,
                                  data.size(),
                                  0,
                                  0,
                                  0,
                                  0 /*dev major/minor, rdev major/minor*/,
                                  name.size() + 1,
                                  0 /*check*/};
  for (unsigned long f : fields) AppendHex8(out, f);
  out.append(name);
  out.push_back('\0');
  PadTo4(out);
  out.append(data);
  PadTo4(out);
}

}  // namespace

Result<std::string> GuestScript(const RunSpec& spec) {
  std::string script;
  for (const auto& [name, value] : spec.env) {
    if (!IsValidEnvName(name)) {
      return MakeError("environment variable \"" + name +
                       "\" cannot be passed into a microVM (not a shell name)");
    }
    script += "export " + name + "=";
    internal::AppendShellQuoted(script, value);
    script += "\n";
  }
  script += "cd ";
  internal::AppendShellQuoted(script, spec.cwd.empty() ? "/tmp" : spec.cwd);
  script += " || exit 126\nexec";
  for (const std::string& arg : spec.argv) {
    script += " ";
    internal::AppendShellQuoted(script, arg);
  }
  script += "\n";
  return script;
}

std::string CpioArchive(const std::vector<CpioFile>& files) {
  std::string out;
  unsigned long ino = 1;
  for (const CpioFile& file : files) {
    AppendEntry(out, ino++, file.path, 0100000UL | (file.mode & 07777), file.data);
  }
  AppendEntry(out, 0, "TRAILER!!!", 0, "");
  return out;
}

std::string ConcatInitramfs(std::string_view base, std::string_view run) {
  std::string out;
  out.reserve(base.size() + 4 + run.size());
  out.append(base);
  PadTo4(out);
  out.append(run);
  return out;
}

unsigned long TscKhzFromCpuinfo(std::string_view cpuinfo) {
  constexpr std::string_view kKey = "cpu MHz";
  std::size_t pos = 0;
  while ((pos = cpuinfo.find(kKey, pos)) != std::string_view::npos) {
    if (pos == 0 || cpuinfo[pos - 1] == '\n') {
      const std::size_t colon = cpuinfo.find(':', pos);
      const std::size_t eol = cpuinfo.find('\n', pos);
      if (colon != std::string_view::npos && colon < eol) {
        const std::string value(cpuinfo.substr(colon + 1, eol - colon - 1));
        char* end = nullptr;
        const double mhz = std::strtod(value.c_str(), &end);
        if (end != value.c_str() && mhz > 1 && mhz < 100'000) {
          return static_cast<unsigned long>(mhz * 1000);
        }
      }
    }
    pos += kKey.size();
  }
  return 0;
}

}  // namespace krond::exec::microvm
