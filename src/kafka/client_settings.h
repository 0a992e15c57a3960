#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

// The user's librdkafka properties (`--kafka-config FILE`, `--kafka-setting KEY=VALUE`):
// parsing, secret references, and the checks that keep a user setting from weakening what
// krond guarantees. Pure functions except ResolveReference, which reads the environment or
// a file. docs/security.md documents the syntax for operators.
namespace krond::kafka {

// One property as the user wrote it. `origin` names where, for messages: "FILE:LINE" or
// "--kafka-setting".
struct UserSetting {
  std::string key;
  std::string value;
  std::string origin;
};

// Parses a client properties file in librdkafka's (and Kafka's client.properties) syntax:
// one `key=value` per line, blanks around the key and before the value ignored (after it
// kept, as in Java properties), blank lines
// and lines starting with `#` or `!` skipped. `path` is only used for origins and messages.
// Errors name the line and never echo a value (it may be a secret).
[[nodiscard]] Result<std::vector<UserSetting>> ParseClientProperties(std::string_view text,
                                                                     std::string_view path);

// A value of the form `${env:NAME}` or `${file:PATH}` is replaced by that environment
// variable, or by the file's content without its trailing newline, so a secret never has to
// be written on a command line (where `ps` and every job's /proc can read it) nor into a
// config file that is shared more widely than the secret. Other values are returned as they
// are. Errors name the origin and the reference, never the value.
[[nodiscard]] Result<std::string> ResolveReference(const UserSetting& setting);

// Whether `value` is a `${env:...}` or `${file:...}` reference.
bool IsReference(std::string_view value);

// Properties whose value is a credential: refused on the command line unless given as a
// reference, and never logged.
bool IsSecretProperty(std::string_view key);

// Refuses a setting that would weaken a guarantee krond relies on, with a message that says
// which and why: acks other than all (a fire acknowledged by one replica can be lost),
// enable.idempotence=false (retries could duplicate), enable.auto.commit or
// enable.auto.offset.store=true (an offset committed before the run's result is durable
// loses the run when the worker dies), isolation.level=read_uncommitted (workers would run
// tasks of aborted transactions), a message or delivery timeout other than 0 (a run would be
// dropped while a broker is down), and the properties krond sets per client (group.id,
// group.instance.id, transactional.id, partitioner, enable.partition.eof). A setting equal
// to krond's own value is accepted.
[[nodiscard]] Status CheckGuarantees(const UserSetting& setting);

}  // namespace krond::kafka
