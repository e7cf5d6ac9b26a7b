import SluiceMedia

/// The `onStatus` info objects and `_result`s that Flash Media Server 3.5 sends, built in
/// one place so every path says the same thing.
public enum FMS {
    public static let version = "3,5,1,525"
    public static let serverString = "FMS/" + version
    public static let capabilities = 31.0

    public static func status(_ code: String, level: String = "status", description: String, extra: [(String, AMFValue)] = []) -> AMFValue {
        var info: AMFObject = ["level": .string(level), "code": .string(code), "description": .string(description)]
        for (key, value) in extra { info[key] = value }
        return .object(info)
    }

    public static func connectProperties() -> AMFValue {
        .object(["fmsVer": .string(serverString), "capabilities": .number(capabilities), "mode": .number(1)])
    }

    public static func connectSuccess(objectEncoding: Double) -> AMFValue {
        status("NetConnection.Connect.Success", description: "Connection succeeded.", extra: [
            ("objectEncoding", .number(objectEncoding)),
            ("data", .ecmaArray(["version": .string(version)])),
        ])
    }

    public static func connectRejected(_ rejection: ConnectRejection) -> AMFValue {
        status("NetConnection.Connect.Rejected", level: "error", description: rejection.description, extra: [
            // What a server-side application passes to rejectConnection() lands here.
            ("application", .object(["message": .string(rejection.code)])),
        ])
    }

    static func playStatus(_ code: String, level: String = "status", _ description: String, name: String, clientID: String) -> AMFValue {
        status(code, level: level, description: description, extra: [("details", .string(name)), ("clientid", .string(clientID))])
    }
}
