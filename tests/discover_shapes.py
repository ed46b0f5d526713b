"""Two schemas written for `fkguard discover`'s precision and recall, each with the foreign keys its designer
meant (the truth) and the traps a name-and-data guess can fall into. Neither copies a public sample.

shop: `id` everywhere, `*_id` columns, serial integers, three foreign keys declared (a convention to follow).
Studio: quoted mixed-case names, composite keys (tenant, project, task numbers), uuid and text keys, two
foreign keys declared, both ON DELETE CASCADE.
"""

from __future__ import annotations

# shapes:wide, generated: discover's cost at 400 tables (bench.discover reads every fixture from here)
from tests.discover_wide import WIDE, WIDE_SQL, WIDE_TRUTH  # noqa: F401

SHOP = "shop"
SHOP_SQL = """
CREATE SCHEMA shop;
SET search_path = shop;
CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE addresses (id serial PRIMARY KEY, customer_id int NOT NULL, city text NOT NULL);
CREATE TABLE categories (id serial PRIMARY KEY, parent_id int, name text NOT NULL);
CREATE TABLE products (id serial PRIMARY KEY, category_id int NOT NULL REFERENCES categories ON DELETE RESTRICT,
                       sku text NOT NULL UNIQUE, price numeric(10, 2) NOT NULL);
CREATE TABLE employees (id serial PRIMARY KEY, manager_id int, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers ON DELETE RESTRICT,
                     shipping_address_id int, billing_address_id int,
                     external_order_id int,  -- the marketplace's own order number: not a key of ours
                     placed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE order_items (id serial PRIMARY KEY, order_id int NOT NULL REFERENCES orders ON DELETE CASCADE,
                          product_id int NOT NULL, quantity int NOT NULL);
CREATE TABLE payments (id serial PRIMARY KEY, order_id bigint NOT NULL, amount numeric NOT NULL);
-- Enforced by hand, on purpose: a trigger, not a foreign key.
CREATE TABLE invoices (id serial PRIMARY KEY, order_id int NOT NULL, number text NOT NULL UNIQUE);
CREATE FUNCTION invoices_order_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM orders WHERE id = NEW.order_id) THEN
        RAISE EXCEPTION 'invoice for a missing order %', NEW.order_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER invoices_order_exists BEFORE INSERT OR UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_order_exists();
CREATE TABLE reviews (id serial PRIMARY KEY, product_id text NOT NULL, stars int NOT NULL);  -- text: no key possible
CREATE TABLE tickets (id serial PRIMARY KEY, customer_id int NOT NULL, assignee_id int, order_id int);
CREATE TABLE ticket_comments (id serial PRIMARY KEY, ticket_id int NOT NULL, author_employee_id int, body text);
-- A log that outlives what it logs: customers deleted since left their events behind.
CREATE TABLE audit_events (id bigserial PRIMARY KEY, customer_id int, action text NOT NULL);
CREATE TABLE locations (id serial PRIMARY KEY, code text NOT NULL);
CREATE TABLE warehouse_stock (id serial PRIMARY KEY, product_id int NOT NULL,
                              location_id int NOT NULL,  -- the warehouse system's bin numbers, not ours
                              qty int NOT NULL);
CREATE TABLE customer_stats (customer_id int PRIMARY KEY, orders_count int NOT NULL);
CREATE TABLE shipments (id serial PRIMARY KEY, order_id int NOT NULL, carrier text NOT NULL);

INSERT INTO customers (email, name) SELECT 'c' || g || '@example.invalid', 'Customer ' || g FROM generate_series(1, 200) g;
INSERT INTO addresses (customer_id, city) SELECT 1 + g % 200, 'City ' || g FROM generate_series(1, 300) g;
INSERT INTO categories (parent_id, name) SELECT CASE WHEN g > 5 THEN 1 + g % 5 END, 'Cat ' || g FROM generate_series(1, 30) g;
INSERT INTO products (category_id, sku, price) SELECT 1 + g % 30, 'SKU-' || g, g FROM generate_series(1, 100) g;
INSERT INTO employees (manager_id, name) SELECT CASE WHEN g > 1 THEN 1 + g % 3 END, 'Emp ' || g FROM generate_series(1, 20) g;
INSERT INTO orders (customer_id, shipping_address_id, billing_address_id, external_order_id)
    SELECT 1 + g % 200, 1 + g % 300, CASE WHEN g % 4 <> 0 THEN 1 + (g * 7) % 300 END, 1 + (g * 7919) % 300
    FROM generate_series(1, 300) g;
INSERT INTO order_items (order_id, product_id, quantity) SELECT 1 + g % 300, 1 + g % 100, 1 FROM generate_series(1, 900) g;
INSERT INTO payments (order_id, amount) SELECT 1 + g % 300, 10 FROM generate_series(1, 280) g;
INSERT INTO invoices (order_id, number) SELECT 1 + g % 300, 'INV-' || g FROM generate_series(1, 250) g;
INSERT INTO reviews (product_id, stars) SELECT (1 + g % 100)::text, 1 + g % 5 FROM generate_series(1, 150) g;
INSERT INTO tickets (customer_id, assignee_id, order_id)
    SELECT 1 + g % 200, 1 + g % 20, CASE WHEN g % 2 = 0 THEN 1 + g % 300 END FROM generate_series(1, 120) g;
INSERT INTO ticket_comments (ticket_id, author_employee_id, body)
    SELECT 1 + g % 120, CASE WHEN g % 3 = 0 THEN 1 + g % 20 END, 'note' FROM generate_series(1, 400) g;
INSERT INTO audit_events (customer_id, action) SELECT 1 + g % 205, 'login' FROM generate_series(1, 1000) g;
INSERT INTO locations (code) SELECT 'L' || g FROM generate_series(1, 10) g;
INSERT INTO warehouse_stock (product_id, location_id, qty) SELECT 1 + g % 100, 100 + g % 50, 5 FROM generate_series(1, 200) g;
INSERT INTO customer_stats SELECT g, 1 FROM generate_series(1, 180) g;
INSERT INTO shipments (order_id, carrier) SELECT 1 + g % 300, 'UPS' FROM generate_series(1, 260) g;
ANALYZE;
"""

# (table, columns, referenced table, referenced columns): the keys shop's designer meant and did not declare
# (invoices.order_id is enforced by its trigger; reviews.product_id is text against an integer: no key fits).
SHOP_TRUTH = {
    ("addresses", ("customer_id",), "customers", ("id",)),
    ("categories", ("parent_id",), "categories", ("id",)),
    ("employees", ("manager_id",), "employees", ("id",)),
    ("orders", ("shipping_address_id",), "addresses", ("id",)),
    ("orders", ("billing_address_id",), "addresses", ("id",)),
    ("order_items", ("product_id",), "products", ("id",)),
    ("payments", ("order_id",), "orders", ("id",)),
    ("tickets", ("customer_id",), "customers", ("id",)),
    ("tickets", ("assignee_id",), "employees", ("id",)),
    ("tickets", ("order_id",), "orders", ("id",)),
    ("ticket_comments", ("ticket_id",), "tickets", ("id",)),
    ("ticket_comments", ("author_employee_id",), "employees", ("id",)),
    ("warehouse_stock", ("product_id",), "products", ("id",)),
    ("customer_stats", ("customer_id",), "customers", ("id",)),
    ("shipments", ("order_id",), "orders", ("id",)),
}

STUDIO = "Studio"
STUDIO_SQL = """
CREATE SCHEMA "Studio";
SET search_path = "Studio";
CREATE TABLE "Tenant" ("TenantId" int PRIMARY KEY, "Name" text NOT NULL);
CREATE TABLE "User" ("UserId" uuid PRIMARY KEY, "TenantId" int NOT NULL, "Email" text NOT NULL);
CREATE TABLE "Session" ("SessionId" uuid PRIMARY KEY, "UserId" uuid NOT NULL REFERENCES "User" ON DELETE CASCADE);
CREATE TABLE "Project" ("TenantId" int NOT NULL REFERENCES "Tenant" ON DELETE CASCADE, "ProjectNo" int NOT NULL,
                        "Title" text, "OwnerUserId" uuid, PRIMARY KEY ("TenantId", "ProjectNo"));
CREATE TABLE "Task" ("TenantId" int NOT NULL, "ProjectNo" int NOT NULL, "TaskNo" int NOT NULL, "AssigneeUserId" uuid,
                     "Title" text, PRIMARY KEY ("TenantId", "ProjectNo", "TaskNo"));
CREATE TABLE "TaskComment" ("CommentId" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "TenantId" int NOT NULL,
                            "ProjectNo" int NOT NULL, "TaskNo" int NOT NULL, "authorId" uuid, "Body" text);
CREATE TABLE "Milestone" ("TenantId" int NOT NULL, "ProjectNo" int NOT NULL, "MilestoneNo" int NOT NULL, "DueOn" date,
                          PRIMARY KEY ("TenantId", "ProjectNo", "MilestoneNo"));
-- A snapshot of estimates, kept when a task is deleted (but not when its project is).
CREATE TABLE "TaskEstimate" ("EstimateId" int PRIMARY KEY, "TenantId" int NOT NULL, "ProjectNo" int NOT NULL,
                             "TaskNo" int NOT NULL, "Hours" numeric);
CREATE TABLE "Invoice" ("InvoiceRef" text PRIMARY KEY, "TenantId" int NOT NULL, "Total" numeric);
CREATE TABLE "InvoiceLine" ("InvoiceRef" text NOT NULL, "LineNo" int NOT NULL, "TenantId" int NOT NULL,
                            "ProjectNo" int, "Amount" numeric, PRIMARY KEY ("InvoiceRef", "LineNo"));
-- Enforced by hand, on purpose: attachments are checked against their project by a trigger.
CREATE TABLE "Attachment" ("AttachmentId" uuid PRIMARY KEY, "TenantId" int NOT NULL, "ProjectNo" int NOT NULL,
                           "Path" text);
CREATE FUNCTION "Studio"."AttachmentProject"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM "Studio"."Project" p WHERE p."TenantId" = NEW."TenantId" AND p."ProjectNo" = NEW."ProjectNo";
    IF NOT FOUND THEN RAISE EXCEPTION 'no such project'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER "AttachmentProject" BEFORE INSERT OR UPDATE ON "Attachment"
    FOR EACH ROW EXECUTE FUNCTION "Studio"."AttachmentProject"();
CREATE TABLE "Label" ("LabelId" smallint PRIMARY KEY, "Name" text NOT NULL);
CREATE TABLE "TaskLabel" ("TenantId" int NOT NULL, "ProjectNo" int NOT NULL, "TaskNo" int NOT NULL,
                          "LabelId" smallint NOT NULL, PRIMARY KEY ("TenantId", "ProjectNo", "TaskNo", "LabelId"));

INSERT INTO "Tenant" SELECT g, 'Tenant ' || g FROM generate_series(1, 5) g;
INSERT INTO "User" SELECT md5('u' || g)::uuid, 1 + g % 5, 'u' || g FROM generate_series(1, 50) g;
INSERT INTO "Session" SELECT md5('s' || g)::uuid, md5('u' || (1 + g % 50))::uuid FROM generate_series(1, 100) g;
INSERT INTO "Project" SELECT t, p, 'P', CASE WHEN p % 3 <> 0 THEN md5('u' || (1 + (t * p) % 50))::uuid END
    FROM generate_series(1, 5) t, generate_series(1, 10) p;
INSERT INTO "Task" SELECT t, p, k, CASE WHEN k % 2 = 0 THEN md5('u' || (1 + k % 50))::uuid END, 'T'
    FROM generate_series(1, 5) t, generate_series(1, 10) p, generate_series(1, 10) k;
INSERT INTO "TaskComment" ("TenantId", "ProjectNo", "TaskNo", "authorId", "Body")
    SELECT t, p, k, md5('u' || (1 + (p + k) % 50))::uuid, 'c'
    FROM generate_series(1, 5) t, generate_series(1, 10) p, generate_series(1, 10) k, generate_series(1, 3) n;
INSERT INTO "Milestone" SELECT t, p, m, date '2026-01-01' + m FROM generate_series(1, 5) t, generate_series(1, 10) p,
    generate_series(1, 2) m;
INSERT INTO "TaskEstimate" SELECT row_number() OVER (), t, p, k, 8
    FROM generate_series(1, 5) t, generate_series(1, 10) p, generate_series(1, 8) k
    UNION ALL SELECT 1000 + g, 1 + g % 5, 1 + g % 10, 11, 4 FROM generate_series(1, 20) g;  -- tasks deleted since
INSERT INTO "Invoice" SELECT 'INV-' || g, 1 + g % 5, 100 FROM generate_series(1, 40) g;
INSERT INTO "InvoiceLine" SELECT 'INV-' || (1 + g % 40), g, 1 + (1 + g % 40) % 5,
    CASE WHEN g % 3 <> 0 THEN 1 + g % 10 END, 10 FROM generate_series(1, 120) g;
INSERT INTO "Attachment" SELECT md5('a' || g)::uuid, 1 + g % 5, 1 + g % 10, '/f' || g FROM generate_series(1, 30) g;
INSERT INTO "Label" SELECT g, 'L' || g FROM generate_series(1, 10) g;
INSERT INTO "TaskLabel" SELECT t, p, k, 1 + (t + p + k) % 10 FROM generate_series(1, 5) t, generate_series(1, 10) p,
    generate_series(1, 10) k;
ANALYZE;
"""

STUDIO_TRUTH = {
    ("User", ("TenantId",), "Tenant", ("TenantId",)),
    ("Project", ("OwnerUserId",), "User", ("UserId",)),
    ("Task", ("TenantId", "ProjectNo"), "Project", ("TenantId", "ProjectNo")),
    ("Task", ("AssigneeUserId",), "User", ("UserId",)),
    ("TaskComment", ("TenantId", "ProjectNo", "TaskNo"), "Task", ("TenantId", "ProjectNo", "TaskNo")),
    ("TaskComment", ("authorId",), "User", ("UserId",)),
    ("Milestone", ("TenantId", "ProjectNo"), "Project", ("TenantId", "ProjectNo")),
    ("TaskEstimate", ("TenantId", "ProjectNo"), "Project", ("TenantId", "ProjectNo")),
    ("Invoice", ("TenantId",), "Tenant", ("TenantId",)),
    ("InvoiceLine", ("InvoiceRef",), "Invoice", ("InvoiceRef",)),
    ("InvoiceLine", ("TenantId", "ProjectNo"), "Project", ("TenantId", "ProjectNo")),
    # ProjectNo may be NULL, and MATCH SIMPLE then checks nothing: the tenant needs its own key.
    ("InvoiceLine", ("TenantId",), "Tenant", ("TenantId",)),
    ("TaskLabel", ("TenantId", "ProjectNo", "TaskNo"), "Task", ("TenantId", "ProjectNo", "TaskNo")),
    ("TaskLabel", ("LabelId",), "Label", ("LabelId",)),
}

# catalogue: keys named the ways real schemas name them (issue 22's kinds, written here, copying no public
# schema): after the parent with no `_id` (`invoice.customer_account`), after the parent's last word
# (`shipment.type` -> shipment_type, `medium.format` -> media_format), a role and the parent
# (`person.birth_place`), a link table's ends (`entity0`, `entity1`), a self-reference by role
# (`category.parent`), a key word only (`place_redirect.new_id`), a person's role (`owner` -> account), a
# shared primary key (`image_meta.id` -> image), a uuid with no name to go by (`session.client_token`).
# Traps: serial ids that overlap everywhere, positions, counts, sizes and heights that fall inside them,
# and `album_cover.album`, whose values are all album_group ids too.
CATALOGUE = "catalogue"
CATALOGUE_SQL = """
CREATE SCHEMA catalogue;
SET search_path = catalogue;
CREATE TABLE account (id serial PRIMARY KEY, login text NOT NULL UNIQUE);
CREATE TABLE area (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE place (id serial PRIMARY KEY, area int, name text NOT NULL, year_opened int);
CREATE TABLE place_redirect (gid uuid PRIMARY KEY, new_id int NOT NULL);
CREATE TABLE person (id serial PRIMARY KEY, name text, birth_place int, death_place int, height int);
CREATE TABLE link_place_place (id serial PRIMARY KEY, entity0 int NOT NULL, entity1 int NOT NULL, position int NOT NULL);
CREATE TABLE album_group (id serial PRIMARY KEY, name text);
CREATE TABLE album (id serial PRIMARY KEY, album_group int NOT NULL, title text, track_count int);
CREATE TABLE album_cover (id serial PRIMARY KEY, album int NOT NULL, size int);
CREATE TABLE shipment_type (id serial PRIMARY KEY, name text);
CREATE TABLE customer_account (id serial PRIMARY KEY, owner int);
CREATE TABLE shipment (id serial PRIMARY KEY, type int, customer_account int);
CREATE TABLE invoice (id serial PRIMARY KEY, customer_account int NOT NULL, year int NOT NULL);
CREATE TABLE line (id serial PRIMARY KEY, invoice int NOT NULL, shipment int, quantity int NOT NULL);
CREATE TABLE media_format (id serial PRIMARY KEY, name text);
CREATE TABLE medium (id serial PRIMARY KEY, album int NOT NULL, format int, position int NOT NULL);
CREATE TABLE category (id serial PRIMARY KEY, parent int, name text);
CREATE TABLE image (id serial PRIMARY KEY, path text);
CREATE TABLE image_meta (id int PRIMARY KEY, width int, height int);
CREATE TABLE api_client (id serial PRIMARY KEY, owner int NOT NULL, token uuid NOT NULL UNIQUE);
CREATE TABLE session (id serial PRIMARY KEY, client_token uuid NOT NULL, started_at timestamptz);

INSERT INTO account (login) SELECT 'a' || g FROM generate_series(1, 40) g;
INSERT INTO area (name) SELECT 'Area ' || g FROM generate_series(1, 30) g;
INSERT INTO place (area, name, year_opened) SELECT CASE WHEN g % 7 <> 0 THEN 1 + g % 30 END, 'P' || g, 1900 + g % 120
    FROM generate_series(1, 120) g;
INSERT INTO place_redirect SELECT md5('r' || g)::uuid, 1 + (g * 13) % 120 FROM generate_series(1, 20) g;
INSERT INTO person (name, birth_place, death_place, height)
    SELECT 'N' || g, 1 + (g * 7) % 120, CASE WHEN g % 3 = 0 THEN 1 + (g * 11) % 120 END, 150 + g % 45
    FROM generate_series(1, 200) g;
INSERT INTO link_place_place (entity0, entity1, position)
    SELECT 1 + g % 120, 1 + (g * 17) % 120, g % 10 FROM generate_series(1, 150) g;
INSERT INTO album_group (name) SELECT 'G' || g FROM generate_series(1, 60) g;
INSERT INTO album (album_group, title, track_count) SELECT 1 + g % 60, 'T' || g, 1 + g % 20 FROM generate_series(1, 150) g;
INSERT INTO album_cover (album, size) SELECT 1 + g % 50, 100 * (1 + g % 9) FROM generate_series(1, 100) g;
INSERT INTO shipment_type (name) SELECT 'S' || g FROM generate_series(1, 6) g;
INSERT INTO customer_account (owner) SELECT 1 + (g * 3) % 40 FROM generate_series(1, 80) g;
INSERT INTO shipment (type, customer_account) SELECT 1 + g % 6, 1 + g % 80 FROM generate_series(1, 250) g;
INSERT INTO invoice (customer_account, year) SELECT 1 + (g * 7) % 80, 2000 + g % 25 FROM generate_series(1, 300) g;
INSERT INTO line (invoice, shipment, quantity)
    SELECT 1 + g % 300, CASE WHEN g % 4 <> 0 THEN 1 + g % 250 END, 1 + g % 5 FROM generate_series(1, 600) g;
INSERT INTO media_format (name) SELECT 'F' || g FROM generate_series(1, 8) g;
INSERT INTO medium (album, format, position) SELECT 1 + g % 150, 1 + g % 8, 1 + g % 4 FROM generate_series(1, 200) g;
INSERT INTO category (parent, name) SELECT CASE WHEN g > 5 THEN 1 + g % 5 END, 'C' || g FROM generate_series(1, 25) g;
INSERT INTO image (path) SELECT '/i/' || g FROM generate_series(1, 90) g;
INSERT INTO image_meta SELECT g, 640, 480 FROM generate_series(1, 60) g;
INSERT INTO api_client (owner, token) SELECT 1 + (g * 5) % 40, md5('t' || g)::uuid FROM generate_series(1, 30) g;
INSERT INTO session (client_token) SELECT md5('t' || (1 + g % 30))::uuid FROM generate_series(1, 100) g;
ANALYZE;
"""

CATALOGUE_TRUTH = {
    ("place", ("area",), "area", ("id",)),
    ("place_redirect", ("new_id",), "place", ("id",)),
    ("person", ("birth_place",), "place", ("id",)),
    ("person", ("death_place",), "place", ("id",)),
    ("link_place_place", ("entity0",), "place", ("id",)),
    ("link_place_place", ("entity1",), "place", ("id",)),
    ("album", ("album_group",), "album_group", ("id",)),
    ("album_cover", ("album",), "album", ("id",)),
    ("shipment", ("type",), "shipment_type", ("id",)),
    ("shipment", ("customer_account",), "customer_account", ("id",)),
    ("customer_account", ("owner",), "account", ("id",)),
    ("invoice", ("customer_account",), "customer_account", ("id",)),
    ("line", ("invoice",), "invoice", ("id",)),
    ("line", ("shipment",), "shipment", ("id",)),
    ("medium", ("album",), "album", ("id",)),
    ("medium", ("format",), "media_format", ("id",)),
    ("category", ("parent",), "category", ("id",)),
    ("image_meta", ("id",), "image", ("id",)),
    ("api_client", ("owner",), "account", ("id",)),
    ("session", ("client_token",), "api_client", ("token",)),
}
