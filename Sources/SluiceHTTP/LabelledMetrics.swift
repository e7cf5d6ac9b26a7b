import Synchronization

/// One metric per label value, made on first use and kept. Making a swift-metrics metric
/// looks it up in the registry under the registry's lock; a listener that counts every
/// request or play should pay that once per label, not each time. The label values are
/// few (operations and statuses, distribution ids, refusal codes), so the table stays small.
public final class LabelledMetrics<Label: Hashable & Sendable, Metric: Sendable>: Sendable {
    private let make: @Sendable (Label) -> Metric
    private let made = Mutex<[Label: Metric]>([:])

    public init(_ make: @escaping @Sendable (Label) -> Metric) {
        self.make = make
    }

    public subscript(label: Label) -> Metric {
        made.withLock { made in
            if let metric = made[label] { return metric }
            let metric = make(label)
            made[label] = metric
            return metric
        }
    }
}
