/// A command that could not do its work for a reason other than how it was typed: a
/// missing file, a job that does not exist, a corrupt input, a port in use. It prints
/// one line (`Error: …`) and exits 1; `ValidationError` is kept for usage mistakes,
/// which print the usage too and exit 64.
public struct CommandFailure: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
