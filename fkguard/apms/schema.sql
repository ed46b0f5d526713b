-- The APMS workflow schema that FK_EXECUTION_PLAN.md is about: 17 tables, text ids, primary keys,
-- CHECK constraints, and none of the 16 foreign keys (adding those is fkguard's job).
-- Columns a foreign key will use are typed exactly like the key they reference (text).
-- Some referencing columns are indexed and some are not, as in the real database: the policy
-- pack's index advice has something to find.

CREATE TABLE workspaces (
    id          text PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'ACTIVE',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workspaces_status_check CHECK (status IN ('ACTIVE', 'SUSPENDED', 'ARCHIVED'))
);

CREATE TABLE config_versions (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL,
    version_number  integer NOT NULL,
    status          text NOT NULL DEFAULT 'DRAFT',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT config_versions_version_number_check CHECK (version_number > 0),
    CONSTRAINT config_versions_status_check CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
    UNIQUE (workspace_id, version_number)
);

CREATE TABLE atp_scope_master (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    code          text NOT NULL,
    name          text NOT NULL,
    atp_category  text NOT NULL,
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT atp_scope_master_category_check CHECK (atp_category IN ('HARDWARE', 'SOFTWARE', 'CIVIL', 'TRANSMISSION'))
);
CREATE INDEX atp_scope_master_workspace_id_idx ON atp_scope_master (workspace_id);

-- A vendor without a workspace is shared by all workspaces: the key may be NULL.
CREATE TABLE vendor_master (
    id            text PRIMARY KEY,
    workspace_id  text,
    code          text NOT NULL,
    name          text NOT NULL,
    status        text NOT NULL DEFAULT 'ACTIVE',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vendor_master_status_check CHECK (status IN ('ACTIVE', 'INACTIVE', 'BLACKLISTED'))
);

CREATE TABLE approval_role_master (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    code          text NOT NULL,
    name          text NOT NULL,
    level         integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A policy without a workspace is a global default: the key may be NULL.
CREATE TABLE approval_policy_master (
    id            text PRIMARY KEY,
    workspace_id  text,
    name          text NOT NULL,
    atp_category  text NOT NULL,
    status        text NOT NULL DEFAULT 'ACTIVE',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT approval_policy_master_category_check CHECK (atp_category IN ('HARDWARE', 'SOFTWARE', 'CIVIL', 'TRANSMISSION')),
    CONSTRAINT approval_policy_master_status_check CHECK (status IN ('ACTIVE', 'INACTIVE'))
);

CREATE TABLE approval_policy_stages (
    id                  text PRIMARY KEY,
    approval_policy_id  text NOT NULL,
    stage_number        integer NOT NULL,
    role_code           text NOT NULL,
    sla_hours           integer NOT NULL DEFAULT 48,
    CONSTRAINT approval_policy_stages_stage_number_check CHECK (stage_number > 0),
    CONSTRAINT approval_policy_stages_sla_hours_check CHECK (sla_hours > 0),
    UNIQUE (approval_policy_id, stage_number)
);

CREATE TABLE cluster_master (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    code          text NOT NULL,
    name          text NOT NULL,
    region        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cluster_approver_master (
    id                text PRIMARY KEY,
    cluster_id        text NOT NULL,
    approver_user_id  text NOT NULL,
    role_code         text NOT NULL,
    priority          integer NOT NULL DEFAULT 1
);

CREATE TABLE workflow_instances (
    id                    text PRIMARY KEY,
    workspace_id          text NOT NULL,
    config_version_id     text NOT NULL,
    approval_policy_id    text,
    site_id               text NOT NULL,
    scope_id              text,
    atp_category          text NOT NULL,
    status                text NOT NULL DEFAULT 'DRAFT',
    current_stage_number  integer NOT NULL DEFAULT 0,
    created_by            text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_instances_category_check CHECK (atp_category IN ('HARDWARE', 'SOFTWARE', 'CIVIL', 'TRANSMISSION')),
    CONSTRAINT workflow_instances_status_check CHECK (status IN ('DRAFT', 'IN_PROGRESS', 'APPROVED', 'REJECTED', 'CANCELLED')),
    CONSTRAINT workflow_instances_stage_check CHECK (current_stage_number >= 0)
);
CREATE INDEX workflow_instances_workspace_id_idx ON workflow_instances (workspace_id);

CREATE TABLE workflow_stages (
    id                    text PRIMARY KEY,
    workflow_instance_id  text NOT NULL,
    stage_number          integer NOT NULL,
    stage_name            text NOT NULL,
    status                text NOT NULL DEFAULT 'PENDING',
    assigned_role         text,
    started_at            timestamptz,
    completed_at          timestamptz,
    CONSTRAINT workflow_stages_stage_number_check CHECK (stage_number > 0),
    CONSTRAINT workflow_stages_status_check CHECK (status IN ('PENDING', 'IN_PROGRESS', 'APPROVED', 'REJECTED', 'SKIPPED')),
    CONSTRAINT workflow_stages_completed_after_start_check CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at)
);
CREATE INDEX workflow_stages_workflow_instance_id_idx ON workflow_stages (workflow_instance_id);

CREATE TABLE workflow_stage_actions (
    id        text PRIMARY KEY,
    stage_id  text NOT NULL,
    action    text NOT NULL,
    actor_id  text NOT NULL,
    comment   text,
    acted_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_stage_actions_action_check CHECK (action IN ('APPROVE', 'REJECT', 'COMMENT', 'REASSIGN', 'RETURN'))
);

CREATE TABLE atp_submissions (
    id                    text PRIMARY KEY,
    workflow_instance_id  text NOT NULL,
    submission_number     integer NOT NULL DEFAULT 1,
    status                text NOT NULL DEFAULT 'SUBMITTED',
    submitted_by          text NOT NULL,
    submitted_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT atp_submissions_status_check CHECK (status IN ('SUBMITTED', 'UNDER_REVIEW', 'ACCEPTED', 'REJECTED'))
);
CREATE INDEX atp_submissions_workflow_instance_id_idx ON atp_submissions (workflow_instance_id);

CREATE TABLE atp_submission_documents (
    id             text PRIMARY KEY,
    submission_id  text NOT NULL,
    file_name      text NOT NULL,
    mime_type      text NOT NULL,
    size_bytes     bigint NOT NULL,
    storage_key    text NOT NULL,
    uploaded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT atp_submission_documents_size_check CHECK (size_bytes >= 0)
);

CREATE TABLE punchlists (
    id                    text PRIMARY KEY,
    workflow_instance_id  text NOT NULL,
    status                text NOT NULL DEFAULT 'OPEN',
    created_by            text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT punchlists_status_check CHECK (status IN ('OPEN', 'IN_REVIEW', 'CLOSED'))
);

CREATE TABLE punchlist_items (
    id            text PRIMARY KEY,
    punchlist_id  text NOT NULL,
    description   text NOT NULL,
    severity      text NOT NULL,
    status        text NOT NULL DEFAULT 'OPEN',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT punchlist_items_severity_check CHECK (severity IN ('CRITICAL', 'MAJOR', 'MINOR'))
);

CREATE TABLE approver_overrides (
    id                    text PRIMARY KEY,
    workflow_instance_id  text NOT NULL,
    stage_number          integer NOT NULL,
    original_approver     text NOT NULL,
    override_approver     text NOT NULL,
    reason                text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT approver_overrides_distinct_check CHECK (original_approver <> override_approver)
);
