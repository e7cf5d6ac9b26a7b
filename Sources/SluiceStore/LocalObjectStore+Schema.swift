import GRDB

/// The store's tables, as migrations: each release adds, never edits, so a data folder of
/// any earlier version opens.
extension LocalObjectStore {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1 buckets and objects") { db in
            try db.create(table: "bucket") { table in
                table.primaryKey("name", .text)
                table.column("created", .datetime).notNull()
            }
            try db.create(table: "object") { table in
                table.column("bucket", .text).notNull().references("bucket", onDelete: .restrict)
                table.column("key", .text).notNull()
                table.column("size", .integer).notNull()
                table.column("etag", .text).notNull()
                table.column("contentType", .text).notNull()
                table.column("acl", .text).notNull()
                table.column("metadata", .text).notNull()
                table.column("lastModified", .datetime).notNull()
                table.column("path", .text).notNull()
                table.primaryKey(["bucket", "key"])
            }
        }
        migrator.registerMigration("2 multipart uploads") { db in
            try db.create(table: "multipartUpload") { table in
                table.primaryKey("id", .text)
                table.column("bucket", .text).notNull().references("bucket", onDelete: .restrict)
                table.column("key", .text).notNull()
                table.column("created", .datetime).notNull()
                table.column("contentType", .text)
                table.column("acl", .text).notNull()
                table.column("metadata", .text).notNull()
            }
            try db.create(table: "multipartPart") { table in
                table.column("uploadId", .text).notNull().references("multipartUpload", onDelete: .cascade)
                table.column("number", .integer).notNull()
                table.column("size", .integer).notNull()
                table.column("etag", .text).notNull()
                table.column("lastModified", .datetime).notNull()
                table.column("path", .text).notNull()
                table.primaryKey(["uploadId", "number"])
            }
        }
        migrator.registerMigration("3 stored headers") { db in
            try db.alter(table: "object") { $0.add(column: "headers", .text).notNull().defaults(to: "{}") }
            try db.alter(table: "multipartUpload") { $0.add(column: "headers", .text).notNull().defaults(to: "{}") }
        }
        // Owners and grants. Rows from before keep grants NULL: their `acl` column's canned
        // ACL, for the first administrator (owner "").
        migrator.registerMigration("4 owners and grants") { db in
            for table in ["bucket", "object", "multipartUpload"] {
                try db.alter(table: table) {
                    $0.add(column: "owner", .text).notNull().defaults(to: "")
                    $0.add(column: "grants", .text)
                }
            }
        }
        // Uploads completed in the last day, so that a client retrying a completion whose
        // answer it lost gets the same answer again, as from S3.
        migrator.registerMigration("5 completed uploads") { db in
            try db.create(table: "completedUpload") { table in
                table.primaryKey("id", .text)
                table.column("bucket", .text).notNull()
                table.column("key", .text).notNull()
                table.column("etag", .text).notNull()
                table.column("completed", .datetime).notNull()
            }
        }
        // The sizes of a multipart object's parts, for GET and HEAD with ?partNumber.
        migrator.registerMigration("6 part sizes") { db in
            try db.alter(table: "object") { $0.add(column: "partSizes", .text) }
        }
        return migrator
    }
}
