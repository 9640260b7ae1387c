#include <centaur/log/kafka_health.hpp>

#include <librdkafka/rdkafkacpp.h>

namespace centaur::log {

struct KafkaHealthCheck::Impl {
    KafkaLogOptions options;
    std::unique_ptr<RdKafka::Producer> client;  ///< created on the first check, reused
    std::unique_ptr<RdKafka::Topic> topic;
};

KafkaHealthCheck::KafkaHealthCheck(KafkaLogOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
}

KafkaHealthCheck::~KafkaHealthCheck() = default;

std::string KafkaHealthCheck::check(std::chrono::milliseconds timeout) {
    std::string err;
    if (!impl_->client) {
        std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
        conf->set("bootstrap.servers", impl_->options.brokers, err);
        conf->set("client.id", "centaur-readiness", err);
        for (const auto& [k, v] : impl_->options.rdkafka)
            if (k != "client.id" && conf->set(k, v, err) != RdKafka::Conf::CONF_OK) return "kafka setting " + k + ": " + err;
        impl_->client.reset(RdKafka::Producer::create(conf.get(), err));
        if (!impl_->client) return "cannot create a Kafka client: " + err;
        std::unique_ptr<RdKafka::Conf> topic_conf(RdKafka::Conf::create(RdKafka::Conf::CONF_TOPIC));
        impl_->topic.reset(RdKafka::Topic::create(impl_->client.get(), impl_->options.topic, topic_conf.get(), err));
        if (!impl_->topic) return "cannot open topic " + impl_->options.topic + ": " + err;
    }
    RdKafka::Metadata* raw = nullptr;
    const auto code = impl_->client->metadata(false, impl_->topic.get(), &raw, static_cast<int>(timeout.count()));
    std::unique_ptr<RdKafka::Metadata> md(raw);
    impl_->client->poll(0);
    if (code != RdKafka::ERR_NO_ERROR) return "brokers unreachable: " + RdKafka::err2str(code);
    for (const auto* t : *md->topics()) {
        if (t->topic() != impl_->options.topic) continue;
        if (t->err() != RdKafka::ERR_NO_ERROR) return "topic " + t->topic() + ": " + RdKafka::err2str(t->err());
        for (const auto* p : *t->partitions())
            if (p->leader() < 0) return "topic " + t->topic() + " partition " + std::to_string(p->id()) + " has no leader";
        return {};
    }
    return "topic " + impl_->options.topic + " not found";
}

}  // namespace centaur::log
