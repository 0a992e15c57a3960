#include "kafka/client_settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "kafka/kafka.h"
#include "kafka/rdkafka_client.h"

namespace krond::kafka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseClientProperties, ReadsKeyValueLinesSkippingCommentsAndBlanks) {
  auto settings = ParseClientProperties(
      "# krond's client\n\n  security.protocol = SASL_SSL\n! also a comment\n"
      "sasl.password=  p@ss= word \nssl.ca.location=/etc/ca.pem\r\n",
      "client.properties");
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_EQ(settings->size(), 3u);
  EXPECT_EQ((*settings)[0].key, "security.protocol");
  EXPECT_EQ((*settings)[0].value, "SASL_SSL");
  EXPECT_EQ((*settings)[0].origin, "client.properties:3");
  // Leading blanks of a value go, trailing ones stay (a password may end in a space), and
  // only the first '=' separates.
  EXPECT_EQ((*settings)[1].value, "p@ss= word ");
  EXPECT_EQ((*settings)[2].value, "/etc/ca.pem");
  EXPECT_EQ((*settings)[2].origin, "client.properties:6");
}

TEST(ParseClientProperties, ALineWithoutEqualsNamesTheLineNotTheText) {
  auto settings = ParseClientProperties("a=b\nhunter2\n", "c.properties");
  ASSERT_FALSE(settings);
  EXPECT_THAT(settings.error().message, HasSubstr("c.properties:2"));
  EXPECT_THAT(settings.error().message, Not(HasSubstr("hunter2")));
}

TEST(ResolveReference, ReadsTheEnvironmentAndFiles) {
  setenv("KROND_TEST_SECRET", "s3cret", 1);
  auto from_env = ResolveReference({"sasl.password", "${env:KROND_TEST_SECRET}", "f:1"});
  ASSERT_TRUE(from_env) << from_env.error().message;
  EXPECT_EQ(*from_env, "s3cret");

  const auto path = std::filesystem::temp_directory_path() / "krond-settings-test-password";
  std::ofstream(path) << "filesecret\n";
  auto from_file = ResolveReference({"sasl.password", "${file:" + path.string() + "}", "f:2"});
  std::filesystem::remove(path);
  ASSERT_TRUE(from_file) << from_file.error().message;
  EXPECT_EQ(*from_file, "filesecret");  // without the trailing newline

  auto plain = ResolveReference({"linger.ms", "5", "f:3"});
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, "5");
}

TEST(ResolveReference, AMissingVariableOrFileIsAnErrorNamingTheOrigin) {
  unsetenv("KROND_TEST_UNSET");
  auto env = ResolveReference({"sasl.password", "${env:KROND_TEST_UNSET}", "f:4"});
  ASSERT_FALSE(env);
  EXPECT_THAT(env.error().message, HasSubstr("f:4: sasl.password"));
  EXPECT_THAT(env.error().message, HasSubstr("KROND_TEST_UNSET"));
  auto file = ResolveReference({"sasl.password", "${file:/no/such/file}", "f:5"});
  ASSERT_FALSE(file);
  EXPECT_THAT(file.error().message, HasSubstr("/no/such/file"));
}

TEST(IsSecretProperty, KnowsThePasswords) {
  EXPECT_TRUE(IsSecretProperty("sasl.password"));
  EXPECT_TRUE(IsSecretProperty("ssl.key.password"));
  EXPECT_FALSE(IsSecretProperty("sasl.username"));
  EXPECT_TRUE(IsReference("${env:X}"));
  EXPECT_TRUE(IsReference("${file:/x}"));
  EXPECT_FALSE(IsReference("${x}"));
  EXPECT_FALSE(IsReference("plain"));
}

TEST(CheckGuarantees, RefusesSettingsThatWeakenAGuarantee) {
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"acks", "1"},
                                                        {"request.required.acks", "0"},
                                                        {"enable.idempotence", "false"},
                                                        {"enable.auto.commit", "true"},
                                                        {"enable.auto.offset.store", "true"},
                                                        {"isolation.level", "read_uncommitted"},
                                                        {"message.timeout.ms", "30000"},
                                                        {"delivery.timeout.ms", "30000"},
                                                        {"group.id", "mine"},
                                                        {"transactional.id", "mine"}}) {
    auto ok = CheckGuarantees({key, value, "client.properties:9"});
    ASSERT_FALSE(ok) << key;
    EXPECT_THAT(ok.error().message, HasSubstr("client.properties:9: " + key)) << key;
    EXPECT_THAT(ok.error().message, HasSubstr("docs/security.md")) << key;
  }
}

TEST(CheckGuarantees, AcceptsKrondsOwnValuesAndEverythingElse) {
  EXPECT_TRUE(CheckGuarantees({"acks", "all", "o"}));
  EXPECT_TRUE(CheckGuarantees({"acks", "-1", "o"}));
  EXPECT_TRUE(CheckGuarantees({"enable.idempotence", "TRUE", "o"}));
  EXPECT_TRUE(CheckGuarantees({"isolation.level", "read_committed", "o"}));
  EXPECT_TRUE(CheckGuarantees({"linger.ms", "20", "o"}));
  EXPECT_TRUE(CheckGuarantees({"security.protocol", "SASL_SSL", "o"}));
}

ClientConfig Config(std::map<std::string, std::string> overrides) {
  ClientConfig config;
  config.brokers = "127.0.0.1:1";
  config.overrides = std::move(overrides);
  for (const auto& [key, value] : config.overrides) config.origins[key] = "client.properties:7";
  return config;
}

TEST(CheckClientConfig, AnUnknownPropertyIsNamedWithoutItsValue) {
  auto ok = CheckClientConfig(Config({{"sasl.pasword", "hunter2"}}));
  ASSERT_FALSE(ok);
  EXPECT_THAT(ok.error().message, HasSubstr("client.properties:7"));
  EXPECT_THAT(ok.error().message, HasSubstr("sasl.pasword"));
  EXPECT_THAT(ok.error().message, Not(HasSubstr("hunter2")));
}

TEST(CheckClientConfig, AnInvalidValueIsNotEchoed) {
  auto ok = CheckClientConfig(Config({{"security.protocol", "hunter2"}}));
  ASSERT_FALSE(ok);
  EXPECT_THAT(ok.error().message, HasSubstr("security.protocol"));
  EXPECT_THAT(ok.error().message, Not(HasSubstr("hunter2")));
}

TEST(CheckClientConfig, RefusesAGuaranteeWeakeningSetting) {
  auto ok = CheckClientConfig(Config({{"acks", "1"}}));
  ASSERT_FALSE(ok);
  EXPECT_THAT(ok.error().message, HasSubstr("acks"));
  EXPECT_TRUE(CheckClientConfig(Config({{"linger.ms", "3"}, {"security.protocol", "ssl"}})));
}

// The regression of issue 18: the topic reader ignored the user's settings, so on a TLS/SASL
// cluster `krond dead list` and the HA takeover spoke plaintext. A setting the reader
// applies is checked by librdkafka before anything connects.
TEST(ReadTopicSnapshot, AppliesTheUsersSettings) {
  auto read = ReadTopicSnapshot(Config({{"security.protocol", "not-a-protocol"}}), "t",
                                std::chrono::milliseconds(100));
  ASSERT_FALSE(read);
  EXPECT_THAT(read.error().message, HasSubstr("security.protocol"));
}

TEST(NewRdKafkaClients, AllApplyTheUsersSettings) {
  const ClientConfig config = Config({{"security.protocol", "not-a-protocol"}});
  auto producer = NewRdKafkaProducer(config, {});
  ASSERT_FALSE(producer);
  EXPECT_THAT(producer.error().message, HasSubstr("security.protocol"));
  ConsumerOptions consumer_options;
  consumer_options.group_id = "g";
  auto consumer = NewRdKafkaConsumer(config, consumer_options);
  ASSERT_FALSE(consumer);
  EXPECT_THAT(consumer.error().message, HasSubstr("security.protocol"));
  auto admin = NewRdKafkaAdmin(config);
  ASSERT_FALSE(admin);
  EXPECT_THAT(admin.error().message, HasSubstr("security.protocol"));
}

}  // namespace
}  // namespace krond::kafka
