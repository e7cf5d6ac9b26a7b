import SluiceRTMP
import XCTest

/// Routing a connect by its tcUrl's host: distributions first, then the default bucket
/// (when on), with CloudFront's refusal codes.
final class DistributionRouterTests: XCTestCase {
    func route(_ router: DistributionRouter, _ tcUrl: String, app: String = "cfx/st") -> Result<StreamRoute, ConnectRejection> {
        router.route(ConnectRequest(app: app, tcUrl: tcUrl), tcUrl: TcURL(tcUrl)!)
    }

    func code(_ result: Result<StreamRoute, ConnectRejection>) -> String? {
        if case .failure(let rejection) = result { return rejection.code }
        return nil
    }

    func testHostsRouteToTheirDistributionsAndTheRestToTheDefault() {
        let router = DistributionRouter(RoutingTable(hosts: ["s1.sluice.localhost": .streaming(bucket: "talks"), "video.example.com": .streaming(bucket: "talks"),
                                                             "s2.sluice.localhost": .disabled, "d3.sluice.localhost": .basic],
                                                     defaultBucket: "media"))
        XCTAssertEqual(try route(router, "rtmp://S1.sluice.localhost:1935/cfx/st").get(), StreamRoute(bucket: "talks"))
        XCTAssertEqual(try route(router, "rtmp://video.example.com/cfx/st").get(), StreamRoute(bucket: "talks"))
        XCTAssertEqual(try route(router, "rtmp://127.0.0.1/cfx/st").get(), StreamRoute(bucket: "media"))
        XCTAssertEqual(code(route(router, "rtmp://s2.sluice.localhost/cfx/st")), "DistributionNotFound")
        XCTAssertEqual(code(route(router, "rtmp://d3.sluice.localhost/cfx/st")), "DistributionTypeMismatch")
        XCTAssertEqual(code(route(router, "rtmp://s1.sluice.localhost/vod", app: "vod")), "InvalidInstance")

        router.update(RoutingTable(hosts: [:], defaultBucket: nil))
        XCTAssertEqual(code(route(router, "rtmp://127.0.0.1/cfx/st")), "DistributionNotFound")
        XCTAssertEqual(code(route(router, "rtmp://s1.sluice.localhost/cfx/st")), "DistributionNotFound")
    }

    /// Over RTMPT the Host header routes too: it decides when the tcUrl's host names no
    /// distribution, and the tcUrl wins when both do.
    func testTheHostHeaderOfATunnelRoutesWhenTheTcUrlCannot() {
        let router = DistributionRouter(RoutingTable(hosts: ["s1.sluice.localhost": .streaming(bucket: "talks"), "s2.sluice.localhost": .disabled,
                                                             "d3.sluice.localhost": .basic],
                                                     defaultBucket: nil))
        func route(_ tcUrl: String, host: String?) -> Result<StreamRoute, ConnectRejection> {
            router.route(ConnectRequest(app: "cfx/st", tcUrl: tcUrl, httpHost: host), tcUrl: TcURL(tcUrl)!)
        }
        XCTAssertEqual(try route("rtmpt://127.0.0.1/cfx/st", host: "s1.sluice.localhost").get(), StreamRoute(bucket: "talks"))
        XCTAssertEqual(code(route("rtmpt://127.0.0.1/cfx/st", host: nil)), "DistributionNotFound")
        XCTAssertEqual(code(route("rtmpt://127.0.0.1/cfx/st", host: "other.example")), "DistributionNotFound")
        XCTAssertEqual(code(route("rtmpt://127.0.0.1/cfx/st", host: "s2.sluice.localhost")), "DistributionNotFound")
        XCTAssertEqual(code(route("rtmpt://127.0.0.1/cfx/st", host: "d3.sluice.localhost")), "DistributionTypeMismatch")
        XCTAssertEqual(code(route("rtmpt://s2.sluice.localhost/cfx/st", host: "s1.sluice.localhost")), "DistributionNotFound",
                       "a tcUrl that names a distribution decides")
        XCTAssertEqual(try route("rtmpt://s1.sluice.localhost/cfx/st", host: "d3.sluice.localhost").get(), StreamRoute(bucket: "talks"))
    }
}
