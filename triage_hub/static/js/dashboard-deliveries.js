/* What became of a resolved ticket's reply: one line per delivery (e-mail, webhook) from the
 * outbox, in the words of the page's config (queued, retrying, not delivered, and sent only once
 * the receiver took it), kept live by the stream's `delivery` events. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const fmt = TH.format;
  const REPLY_EVENT = "ticket.resolved"; // the deliveries that carry the reply

  TH.parts.deliveries = function (inner) {
    const config = TH.config();
    const labels = config.delivery_labels || {};

    function stateOf(delivery) {
      if (delivery.status === "SENT") return "sent";
      if (delivery.status === "FAILED") return "failed";
      if (delivery.status === "SENDING") return "sending";
      return delivery.attempts > 0 ? "retrying" : "queued";
    }

    function describe(delivery) {
      const state = stateOf(delivery);
      let text = (labels[state] || state)
        .replace("{attempts}", String(delivery.attempts))
        .replace("{error}", delivery.last_error || "the receiver refused it");
      if (state === "failed") text = fmt.sentence(text);
      let detail = "";
      if (state === "sent" && delivery.sent_at) detail = fmt.time(delivery.sent_at);
      if (state === "retrying" && delivery.last_error) {
        detail = (labels.last_try || "{error}").replace("{error}", delivery.last_error);
      }
      return {
        id: delivery.id,
        kind: (config.delivery_kinds || {})[delivery.kind] || delivery.kind,
        text: text,
        detail: detail,
        hasDetail: detail !== "",
        cls: "delivery delivery-" + state,
      };
    }

    return {
      deliveryItems() {
        const all = this.detail.deliveries || [];
        return all.filter((delivery) => delivery.event === REPLY_EVENT).map(describe);
      },
      hasDeliveries() {
        return this.detailLoaded && this.detail.status === "RESOLVED" && this.deliveryItems().length > 0;
      },
      // Resolved, and nothing to send it with: it shows on the customer's status page only.
      hasNoDelivery() {
        return this.detailLoaded && this.detail.status === "RESOLVED" && this.deliveryItems().length === 0;
      },
      onDeliveryEvent(change) {
        if (change && change.id && change.id === inner.openId) this.scheduleDetail();
      },
    };
  };
})();
