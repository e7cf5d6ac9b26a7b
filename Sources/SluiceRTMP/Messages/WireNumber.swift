/// Conversions of the numbers a peer sends.
///
/// A command's numbers are AMF doubles, so a client may send any value at all: NaN, the
/// infinities, 1e300, -0. `Int64(_:)` or `UInt32(_:)` of a double that does not fit
/// traps, and a trap ends the whole server with every play on it, so no wire number is
/// converted anywhere but here.
public enum WireNumber {
    /// A time or length in milliseconds: nil for NaN and negative values (which mean
    /// "the default" in FMS's play), whole milliseconds otherwise, at most `UInt32.max`
    /// (about 49 days: any longer time is past the end of any file).
    public static func milliseconds(_ value: Double) -> UInt32? {
        guard !value.isNaN, value >= 0 else { return nil }
        guard value < Double(UInt32.max) else { return .max }
        return UInt32(value)
    }

    /// Seconds (play2's `start`, `len` and `offset`) as milliseconds, as `milliseconds`.
    public static func milliseconds(fromSeconds value: Double) -> UInt32? {
        milliseconds(value * 1000)
    }

    /// A stream ID: only a whole number that fits names a stream.
    public static func streamID(_ value: Double) -> UInt32? {
        UInt32(exactly: value)
    }
}
