import { Center, Loader } from '@mantine/core';
import { ModalsProvider } from '@mantine/modals';
import { Notifications } from '@mantine/notifications';
import { createBrowserRouter, Navigate, Outlet } from 'react-router';
import { AuthGate } from '../auth/auth-gate.js';
import { SignInPage } from '../auth/sign-in.page.js';
import { SIGN_IN_PATH } from '../lib/return-path.js';
import { ProjectsPage } from '../projects/projects.page.js';
import { ProjectLayout } from './project-layout.js';
import { NotFound, RouteError } from './route-error.js';

/* The heavy views (graph editor, CodeMirror, charts) are separate chunks, loaded when first opened. */
/** Notifications and modals live inside the router, so what they show may link to views. */
function RootLayout() {
  return (
    <ModalsProvider>
      <Notifications position="bottom-right" limit={4} />
      <Outlet />
    </ModalsProvider>
  );
}

export function createAppRouter() {
  return createBrowserRouter([
    {
      element: <RootLayout />,
      errorElement: <RouteError />,
      // Shown while the first view's code loads.
      hydrateFallbackElement: (
        <Center h="100vh">
          <Loader size="sm" />
        </Center>
      ),
      children: [
        { path: SIGN_IN_PATH, element: <SignInPage />, errorElement: <RouteError /> },
        // Everything else is for the signed-in (or everyone, with accounts off).
        { element: <AuthGate />, errorElement: <RouteError />, children: routes() },
      ],
    },
  ]);
}

function routes() {
  return [
    { path: '/', element: <ProjectsPage />, errorElement: <RouteError /> },
    {
      path: '/profile',
      errorElement: <RouteError />,
      lazy: async () => ({ Component: (await import('../auth/profile.page.js')).ProfilePage }),
    },
    {
      path: '/compute',
      errorElement: <RouteError />,
      lazy: async () => ({ Component: (await import('../compute/compute.page.js')).ComputePage }),
    },
    {
      path: '/admin/audit',
      errorElement: <RouteError />,
      lazy: async () => ({ Component: (await import('../auth/audit.page.js')).AuditPage }),
    },
    {
      path: '/projects/:projectId',
      element: <ProjectLayout />,
      errorElement: <RouteError />,
      children: [
        { index: true, element: <Navigate to="pipelines" replace /> },
        {
          path: 'pipelines',
          lazy: async () => ({
            Component: (await import('../pipelines/pipelines-list.view.js')).PipelinesListView,
          }),
        },
        {
          path: 'pipelines/:pipeline',
          lazy: async () => ({
            Component: (await import('../pipelines/pipeline-editor.view.js')).PipelineEditorView,
          }),
        },
        {
          path: 'operations/:operation',
          lazy: async () => ({
            Component: (await import('../operations/operation-editor.view.js')).OperationEditorView,
          }),
        },
        {
          path: 'executions',
          lazy: async () => ({
            Component: (await import('../executions/executions-list.view.js')).ExecutionsListView,
          }),
        },
        {
          path: 'executions/:executionId',
          lazy: async () => ({ Component: (await import('../executions/execution.view.js')).ExecutionView }),
        },
        {
          path: 'resources',
          lazy: async () => ({ Component: (await import('../resources/resources.view.js')).ResourcesView }),
        },
        {
          path: 'resources/:name',
          lazy: async () => ({
            Component: (await import('../resources/architecture-editor.view.js')).ArchitectureEditorView,
          }),
        },
        {
          path: 'artifacts',
          lazy: async () => ({ Component: (await import('../artifacts/artifacts.view.js')).ArtifactsView }),
        },
        {
          path: 'utils/:name?',
          lazy: async () => ({ Component: (await import('../modules/modules.view.js')).UtilsView }),
        },
        {
          path: 'serializers/:name?',
          lazy: async () => ({ Component: (await import('../modules/modules.view.js')).SerializersView }),
        },
        {
          path: 'history',
          lazy: async () => ({ Component: (await import('../history/history.view.js')).HistoryView }),
        },
        {
          path: 'history/:versionId/files',
          lazy: async () => ({
            Component: (await import('../history/version-files.view.js')).VersionFilesView,
          }),
        },
        { path: '*', element: <NotFound /> },
      ],
    },
    { path: '*', element: <NotFound /> },
  ];
}
