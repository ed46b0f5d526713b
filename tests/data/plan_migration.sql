-- The 16 ALTER TABLE statements of FK_EXECUTION_PLAN.md, Step 2.2, verbatim (comments dropped):
-- the reference fkguard's own statements must reproduce constraint for constraint.

ALTER TABLE workflow_instances
ADD CONSTRAINT fk_workflow_instances_config_version
FOREIGN KEY (config_version_id)
REFERENCES config_versions(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE workflow_instances
ADD CONSTRAINT fk_workflow_instances_workspace
FOREIGN KEY (workspace_id)
REFERENCES workspaces(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE workflow_stages
ADD CONSTRAINT fk_workflow_stages_workflow_instance
FOREIGN KEY (workflow_instance_id)
REFERENCES workflow_instances(id)
ON DELETE CASCADE
NOT VALID;

ALTER TABLE atp_submissions
ADD CONSTRAINT fk_atp_submissions_workflow_instance
FOREIGN KEY (workflow_instance_id)
REFERENCES workflow_instances(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE atp_submission_documents
ADD CONSTRAINT fk_atp_submission_documents_submission
FOREIGN KEY (submission_id)
REFERENCES atp_submissions(id)
ON DELETE CASCADE
NOT VALID;

ALTER TABLE punchlists
ADD CONSTRAINT fk_punchlists_workflow_instance
FOREIGN KEY (workflow_instance_id)
REFERENCES workflow_instances(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE punchlist_items
ADD CONSTRAINT fk_punchlist_items_punchlist
FOREIGN KEY (punchlist_id)
REFERENCES punchlists(id)
ON DELETE CASCADE
NOT VALID;

ALTER TABLE atp_scope_master
ADD CONSTRAINT fk_atp_scope_master_workspace
FOREIGN KEY (workspace_id)
REFERENCES workspaces(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE vendor_master
ADD CONSTRAINT fk_vendor_master_workspace
FOREIGN KEY (workspace_id)
REFERENCES workspaces(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE approval_role_master
ADD CONSTRAINT fk_approval_role_master_workspace
FOREIGN KEY (workspace_id)
REFERENCES workspaces(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE approval_policy_master
ADD CONSTRAINT fk_approval_policy_master_workspace
FOREIGN KEY (workspace_id)
REFERENCES workspaces(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE approval_policy_stages
ADD CONSTRAINT fk_approval_policy_stages_policy
FOREIGN KEY (approval_policy_id)
REFERENCES approval_policy_master(id)
ON DELETE CASCADE
NOT VALID;

ALTER TABLE cluster_master
ADD CONSTRAINT fk_cluster_master_workspace
FOREIGN KEY (workspace_id)
REFERENCES workspaces(id)
ON DELETE RESTRICT
NOT VALID;

ALTER TABLE cluster_approver_master
ADD CONSTRAINT fk_cluster_approver_master_cluster
FOREIGN KEY (cluster_id)
REFERENCES cluster_master(id)
ON DELETE CASCADE
NOT VALID;

ALTER TABLE approver_overrides
ADD CONSTRAINT fk_approver_overrides_workflow_instance
FOREIGN KEY (workflow_instance_id)
REFERENCES workflow_instances(id)
ON DELETE CASCADE
NOT VALID;

ALTER TABLE workflow_stage_actions
ADD CONSTRAINT fk_workflow_stage_actions_stage
FOREIGN KEY (stage_id)
REFERENCES workflow_stages(id)
ON DELETE CASCADE
NOT VALID;
